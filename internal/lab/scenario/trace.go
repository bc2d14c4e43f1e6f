package scenario

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/provision"
)

// TraceEvent is one step of a network's convergence on one node, as provisiond logged
// it (provision.TraceMsg).
type TraceEvent struct {
	Node string    // the node whose provisiond logged it
	Step string    // provision.Step*
	Peer int64     // the peer member's node id; 0 for a step of the network
	At   time.Time // when it happened
}

// ParseTrace reads a provisiond log (slog text format) and returns the trace events of
// network, logged by node. Other lines, and trace lines that do not parse, are skipped.
func ParseTrace(r io.Reader, node, network string) ([]TraceEvent, error) {
	var out []TraceEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "msg="+provision.TraceMsg+" ") {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		if kv["msg"] != provision.TraceMsg || kv["network"] != network {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, kv["at"])
		if err != nil {
			continue
		}
		e := TraceEvent{Node: node, Step: kv["step"], At: at}
		if p := kv["peer"]; p != "" {
			if e.Peer, err = strconv.ParseInt(p, 10, 64); err != nil {
				continue
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// PathSteps are the steps of the critical path in their causal order.
var PathSteps = []string{provision.StepDesired, provision.StepCreated, provision.StepReported,
	provision.StepPeerKnown, provision.StepApplied, provision.StepHandshake, provision.StepAnswer}

// PathRow is one step of the critical path: over the nodes (network steps) or the
// ordered pairs (peer steps) that reached it, the median and the last time since t0.
type PathRow struct {
	Step         string
	Count        int // nodes or pairs that reached the step
	Median, Last time.Duration
}

// CriticalPath summarizes events against t0 (when `network create` was sent), one row
// per step of PathSteps, in that order. Each row's Last is when the last node or pair
// got there: the step that ends latest is where the time goes.
func CriticalPath(events []TraceEvent, t0 time.Time) []PathRow {
	by := map[string][]time.Duration{}
	for _, e := range events {
		by[e.Step] = append(by[e.Step], e.At.Sub(t0))
	}
	var rows []PathRow
	for _, s := range PathSteps {
		d := by[s]
		r := PathRow{Step: s, Count: len(d)}
		if len(d) > 0 {
			slices.Sort(d)
			r.Median, r.Last = d[len(d)/2], d[len(d)-1]
		}
		rows = append(rows, r)
	}
	return rows
}

// MedianPath is the row-wise median of several runs' critical paths (same steps in
// the same order): each column is the median of that column over the runs.
func MedianPath(runs [][]PathRow) []PathRow {
	if len(runs) == 0 {
		return nil
	}
	out := make([]PathRow, len(runs[0]))
	for i := range out {
		var c []int
		var med, last []time.Duration
		for _, r := range runs {
			if i < len(r) {
				c, med, last = append(c, r[i].Count), append(med, r[i].Median), append(last, r[i].Last)
			}
		}
		slices.Sort(c)
		slices.Sort(med)
		slices.Sort(last)
		out[i] = PathRow{Step: runs[0][i].Step, Count: c[len(c)/2], Median: med[len(med)/2], Last: last[len(last)/2]}
	}
	return out
}

// FormatPath renders rows as a Markdown table (milliseconds).
func FormatPath(rows []PathRow) string {
	var b strings.Builder
	b.WriteString("| step | nodes/pairs | median | last |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d ms | %d ms |\n", r.Step, r.Count, r.Median.Milliseconds(), r.Last.Milliseconds())
	}
	return b.String()
}
