package scenario

import (
	"net/netip"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/testkit"
)

func TestOther(t *testing.T) {
	// source 1 of 4 workloads: destinations 0, 2, 3
	for j, want := range []int{0, 2, 3} {
		if got := other(1, j); got != want {
			t.Errorf("other(1, %d) = %d, want %d", j, got, want)
		}
	}
	ws := []Workload{{Node: "a"}, {Node: "b"}, {Node: "c"}, {Node: "d"}}
	cells := cellsOf(ws)
	for i := range ws {
		for j, c := range rowOf(cells, len(ws), i) {
			if c.From != ws[i].Node || c.To != ws[other(i, j)].Node {
				t.Errorf("row %d cell %d = %s→%s, want %s→%s", i, j, c.From, c.To, ws[i].Node, ws[other(i, j)].Node)
			}
		}
	}
}

func TestEchoInterval(t *testing.T) {
	for _, tc := range []struct {
		pending int
		want    time.Duration
	}{
		{1, 200 * time.Millisecond},
		{380, 200 * time.Millisecond},
		{400, 200 * time.Millisecond},
		{2450, 1225 * time.Millisecond},
	} {
		if got := echoInterval(tc.pending); got != tc.want {
			t.Errorf("echoInterval(%d) = %v, want %v", tc.pending, got, tc.want)
		}
	}
}

// TestEchoSocket pings the loopback address of a throwaway namespace through an echo
// socket opened in it, and is refused the host's namespace.
func TestEchoSocket(t *testing.T) {
	testkit.RequireRoot(t)
	ns := testkit.NewNS(t)
	lo := netip.MustParseAddr("127.0.0.1")
	s, err := openEchoAt(ns.Path(), lo, 0x5aff)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	deadline := time.Now().Add(5 * time.Second)
	for seq := uint16(1); s.answered(lo).IsZero(); seq++ {
		if time.Now().After(deadline) {
			t.Fatal("no echo reply from 127.0.0.1 in the test namespace within 5 s")
		}
		s.send(seq, []netip.Addr{lo})
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := openEchoAt("/proc/self/ns/net", lo, 1); err == nil {
		t.Error("echo socket opened in the host's namespace")
	}
}
