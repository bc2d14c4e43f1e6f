package scenario

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MatrixPings bounds the ping processes WaitMatrix runs at once (over all sources):
// sources are pinged from in parallel, as many as fit, each towards all its
// destinations at once.
const MatrixPings = 320

// pingAllScript runs in a workload's namespace: "sh -c SCRIPT sh SECONDS DEST..." pings
// every DEST at once, each until its first answer (echo requests 200 ms apart) or until
// SECONDS have passed, and prints each DEST when it answers. A ping that ends early on an
// ICMP error (no route yet) is started again 200 ms later, within the same deadline.
const pingAllScript = `end=$(( $(date +%s) + $1 )); shift
for d in "$@"; do
  (
    while :; do
      left=$(( end - $(date +%s) ))
      [ "$left" -gt 0 ] || exit 1
      if ping -n -q -c 1 -i 0.2 -w "$left" "$d" >/dev/null 2>&1; then echo "$d"; exit 0; fi
      sleep 0.2
    done
  ) &
done
wait`

// Cell is one entry of the reachability matrix.
type Cell struct {
	From, To string
	OK       bool
	Err      error
	At       time.Time // WaitMatrix: when the pair first answered
}

// Matrix pings every ordered pair of workloads (a few pairs at a time; each until its
// first answer, for at most tries × 200 ms + 1 s) and returns the results in
// from-major order.
func (m *Mesh) Matrix(ctx context.Context, ws []Workload, tries int) []Cell {
	return m.matrixOf(ctx, ws, tries, func(string, string) bool { return true })
}

// cellsOf returns every ordered pair of ws, from-major.
func cellsOf(ws []Workload) []Cell {
	var cells []Cell
	for _, a := range ws {
		for _, b := range ws {
			if a.Node != b.Node {
				cells = append(cells, Cell{From: a.Node, To: b.Node})
			}
		}
	}
	return cells
}

// matrixOf pings the pairs want selects; the others are returned not OK and not pinged.
func (m *Mesh) matrixOf(ctx context.Context, ws []Workload, tries int, want func(from, to string) bool) []Cell {
	cells := cellsOf(ws)
	byNode := map[string]Workload{}
	for _, w := range ws {
		byNode[w.Node] = w
	}
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for i := range cells {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := &cells[i]
			if !want(c.From, c.To) {
				return
			}
			c.Err = m.pingFirst(ctx, byNode[c.From], byNode[c.To].IPv4.Addr(), time.Duration(tries)*200*time.Millisecond+time.Second)
			c.OK = c.Err == nil
			if c.OK {
				c.At = time.Now()
			}
		}()
	}
	wg.Wait()
	return cells
}

// WaitMatrix pings every ordered pair of workloads until each has answered once, or
// timeout; it returns the cells (from-major) with the time each pair first answered.
// Every OK cell is proof that packets crossed the overlay both ways. All pairs are
// pinged at once, each until its first answer (at most MatrixPings ping processes:
// one process per source node runs its pings), so the matrix ends within about one
// round trip of the last pair's first answer. Workloads on VM nodes are pinged a few
// pairs at a time in rounds instead (their commands go through the guest agent).
func (m *Mesh) WaitMatrix(ctx context.Context, ws []Workload, timeout time.Duration) ([]Cell, error) {
	for _, w := range ws {
		if m.Lab.NodePID(w.Node) == 0 {
			return m.waitMatrixRounds(ctx, ws, timeout)
		}
	}
	deadline := time.Now().Add(timeout)
	cells := cellsOf(ws)
	sources := max(1, MatrixPings/max(1, len(ws)-1))
	sem := make(chan struct{}, sources)
	var wg sync.WaitGroup
	for i, w := range ws {
		row := cells[i*(len(ws)-1) : (i+1)*(len(ws)-1)]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m.pingRow(ctx, w, ws, row, deadline)
		}()
	}
	wg.Wait()
	var bad []string
	for _, c := range cells {
		if !c.OK {
			bad = append(bad, c.From+"→"+c.To)
		}
	}
	if len(bad) > 0 {
		return cells, fmt.Errorf("after %s: %d pairs do not answer: %s", timeout, len(bad), strings.Join(bad, " "))
	}
	return cells, nil
}

// pingRow pings from w to every other workload of ws at once (pingAllScript) and fills
// row (w's cells, in ws order) as answers come in.
func (m *Mesh) pingRow(ctx context.Context, w Workload, ws []Workload, row []Cell, deadline time.Time) {
	idx := map[string]int{}
	args := []string{"ip", "netns", "exec", w.Netns, "sh", "-c", pingAllScript, "sh",
		fmt.Sprint(max(1, int((time.Until(deadline)+time.Second-1)/time.Second)))}
	for _, o := range ws {
		if o.Node == w.Node {
			continue
		}
		a := o.IPv4.Addr().String()
		idx[a] = len(idx)
		args = append(args, a)
	}
	fail := func(err error) {
		for i := range row {
			if !row[i].OK && row[i].Err == nil {
				row[i].Err = err
			}
		}
	}
	cmd, err := m.Lab.Command(ctx, w.Node, args...)
	if err != nil {
		fail(err)
		return
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail(err)
		return
	}
	if err := cmd.Start(); err != nil {
		fail(fmt.Errorf("%s: ping all: %w", w.Node, err))
		return
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if i, ok := idx[strings.TrimSpace(sc.Text())]; ok {
			row[i].OK, row[i].At = true, time.Now()
		}
	}
	err = cmd.Wait()
	for i := range row {
		if !row[i].OK && row[i].Err == nil {
			row[i].Err = fmt.Errorf("%s → %s: no answer before the deadline (%v %s)", row[i].From, row[i].To, err, strings.TrimSpace(errb.String()))
		}
	}
}

// waitMatrixRounds is WaitMatrix by rounds of Matrix over the pairs that have not
// answered yet (a pair that answered is not pinged again).
func (m *Mesh) waitMatrixRounds(ctx context.Context, ws []Workload, timeout time.Duration) ([]Cell, error) {
	var cells []Cell
	done := map[[2]string]time.Time{}
	err := Poll(ctx, timeout, func() error {
		round := m.matrixOf(ctx, ws, 3, func(from, to string) bool { return done[[2]string{from, to}].IsZero() })
		var bad []string
		cells = cells[:0]
		for _, c := range round {
			k := [2]string{c.From, c.To}
			if c.OK && done[k].IsZero() {
				done[k] = c.At
			}
			if !done[k].IsZero() {
				c.OK, c.Err, c.At = true, nil, done[k]
			} else {
				bad = append(bad, c.From+"→"+c.To)
			}
			cells = append(cells, c)
		}
		if len(bad) > 0 {
			return fmt.Errorf("%d pairs do not answer: %s", len(bad), strings.Join(bad, " "))
		}
		return nil
	})
	return cells, err
}

// Answered returns when the k-th of cells' pairs first answered (k from 1; the cells
// of a WaitMatrix), or false if fewer than k answered.
func Answered(cells []Cell, k int) (time.Time, bool) {
	var at []time.Time
	for _, c := range cells {
		if c.OK && !c.At.IsZero() {
			at = append(at, c.At)
		}
	}
	if k < 1 || k > len(at) {
		return time.Time{}, false
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return at[k-1], true
}
