package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

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
// pinged at once from this process, through one raw ICMP socket opened in each
// workload's namespace (no process per ping; at most EchoRate requests/s), so the
// matrix ends within one interval of the last pair's first answer. Workloads on VM
// nodes are pinged a few pairs at a time in rounds instead (through the guest agent).
func (m *Mesh) WaitMatrix(ctx context.Context, ws []Workload, timeout time.Duration) ([]Cell, error) {
	for _, w := range ws {
		if m.Lab.NodePID(w.Node) == 0 {
			return m.waitMatrixRounds(ctx, ws, timeout)
		}
	}
	cells := cellsOf(ws)
	socks := make([]*echoSocket, len(ws))
	defer func() {
		for _, s := range socks {
			if s != nil {
				s.close()
			}
		}
	}()
	// A workload's namespace or address may not exist yet (a node just rebooted, its
	// NR being restored): its socket is opened when it can be, until the deadline.
	openErr := make([]error, len(ws))
	deadline := time.Now().Add(timeout)
	for seq := uint16(1); ; seq++ {
		for i, w := range ws {
			if socks[i] == nil {
				socks[i], openErr[i] = m.openEcho(w, uint16(0x5a00+i))
			}
		}
		pending := collect(cells, ws, socks)
		if pending == 0 {
			return cells, nil
		}
		if time.Now().After(deadline) {
			var bad []string
			for _, c := range cells {
				if !c.OK {
					bad = append(bad, c.From+"→"+c.To)
				}
			}
			err := fmt.Errorf("after %s: %d pairs do not answer: %s", timeout, len(bad), strings.Join(bad, " "))
			return cells, errors.Join(append([]error{err}, openErr...)...)
		}
		for i, s := range socks {
			if s == nil {
				continue
			}
			var dsts []netip.Addr
			for j, c := range rowOf(cells, len(ws), i) {
				if !c.OK {
					dsts = append(dsts, ws[other(i, j)].IPv4.Addr())
				}
			}
			s.send(seq, dsts)
		}
		select {
		case <-ctx.Done():
			return cells, ctx.Err()
		case <-time.After(echoInterval(pending)):
		}
	}
}

// rowOf is the cells of source ws[i] (n workloads, cells from cellsOf): their j-th
// destination is ws[other(i, j)].
func rowOf(cells []Cell, n, i int) []Cell { return cells[i*(n-1) : (i+1)*(n-1)] }

// other is the index in ws of the j-th destination of source i (every workload but i,
// in order).
func other(i, j int) int {
	if j >= i {
		return j + 1
	}
	return j
}

// collect marks the cells whose pair answered and returns how many have not.
func collect(cells []Cell, ws []Workload, socks []*echoSocket) int {
	pending := 0
	for i, s := range socks {
		row := rowOf(cells, len(ws), i)
		for j := range row {
			if row[j].OK {
				continue
			}
			if s == nil { // not open yet
				pending++
				continue
			}
			if at := s.answered(ws[other(i, j)].IPv4.Addr()); !at.IsZero() {
				row[j].OK, row[j].At = true, at
			} else {
				pending++
			}
		}
	}
	return pending
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
