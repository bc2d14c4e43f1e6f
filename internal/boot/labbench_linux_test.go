package boot

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/testkit"
)

// farm12 is the default lab with 12 farm nodes (OOB + PUBLIC NICs, DHCP on OOB only)
// booting at once.
func farm12(b *testing.B) *lab.Spec {
	s := lab.DefaultSpec()
	tmpl := s.Nodes[0]
	s.Nodes = nil
	for i := 1; i <= 12; i++ {
		n := tmpl
		n.Name = fmt.Sprintf("farm%d", i)
		n.NICs = slices.Clone(tmpl.NICs)
		s.Nodes = append(s.Nodes, n)
	}
	return s
}

var onlineRE = regexp.MustCompile(`netinit: online in ([0-9.]+[mµn]?s)`)

// bootTimes reads each node's "online in" line (netinit start → registry reachable).
func bootTimes(b *testing.B, l *lab.Lab) []time.Duration {
	var out []time.Duration
	for _, n := range l.Spec().Nodes {
		log, err := os.ReadFile(filepath.Join(l.NodeDir(n.Name), "state", "log", "netinit.log"))
		if err != nil {
			b.Fatal(err)
		}
		m := onlineRE.FindSubmatch(log)
		if m == nil {
			b.Fatalf("node %s: no 'online in' line in its netinit log:\n%s", n.Name, log)
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(m[1])))
		if err != nil {
			b.Fatal(err)
		}
		if d > 5*time.Second {
			b.Logf("node %s slow (%v):\n%s", n.Name, d, log)
		}
		out = append(out, d)
	}
	return out
}

// BenchmarkLabBoot brings the lab up with netinit on every node (the lab's dnsmasq runs
// with --no-ping) and reports netinit start → registry reachable over all nodes:
// median-ms and max-ms. "default" is the default farm (farm nodes have an OOB NIC with
// DHCP and a PUBLIC one without); "farm12" is 12 such nodes booting at once.
func BenchmarkLabBoot(b *testing.B) {
	for _, c := range []struct {
		name string
		spec func(*testing.B) *lab.Spec
	}{{"default", func(*testing.B) *lab.Spec { return lab.DefaultSpec() }}, {"farm12", farm12}} {
		b.Run(c.name, func(b *testing.B) {
			testkit.RequireRoot(b)
			var all []time.Duration
			for b.Loop() {
				name := fmt.Sprintf("nb%x", os.Getpid()&0xfffff)
				l, err := lab.Up(b.Context(), c.spec(b), lab.Options{Name: name, BinDir: labBinDir(b), Boot: true, BootTimeout: 2 * time.Minute})
				if err == nil {
					all = append(all, bootTimes(b, l)...)
				}
				if derr := lab.Down(b.Context(), name); derr != nil || err != nil {
					b.Fatal(err, derr)
				}
			}
			b.ReportMetric(float64(median(all).Milliseconds()), "median-ms")
			b.ReportMetric(float64(slices.Max(all).Milliseconds()), "max-ms")
		})
	}
}
