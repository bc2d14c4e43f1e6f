package scenario

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/zosnet/zosnet/internal/lab"
)

// Trace collects network's convergence trace from the provisiond log of every node of
// the lab (a node without a log contributes nothing).
func (m *Mesh) Trace(network string) ([]TraceEvent, error) {
	logs, err := filepath.Glob(filepath.Join(lab.StateRoot, m.Lab.Name(), "nodes", "*", "state", "log", "provisiond.log"))
	if err != nil {
		return nil, err
	}
	var out []TraceEvent
	for _, p := range logs {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		node := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(p))))
		ev, err := ParseTrace(f, node, network)
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, ev...)
	}
	return out, nil
}

// NRUpdates counts provisiond's networkd calls that changed network's resource after
// its creation ("network resource updated" log lines), over all nodes: the re-apply
// churn of a convergence.
func (m *Mesh) NRUpdates(network string) (int, error) {
	logs, err := filepath.Glob(filepath.Join(lab.StateRoot, m.Lab.Name(), "nodes", "*", "state", "log", "provisiond.log"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "network resource updated") && strings.Contains(l, "network="+network) {
				n++
			}
		}
	}
	return n, nil
}
