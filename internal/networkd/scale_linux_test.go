package networkd_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/testkit"
)

// meshMany creates count networks between a and b (see meshPair) and returns their ids.
func meshMany(t *testing.T, a, b *node, count int) []string {
	t.Helper()
	ids := make([]string, count)
	for i := range ids {
		ids[i] = fmt.Sprintf("net%d", i)
		meshPair(t, a, b, ids[i])
	}
	return ids
}

// allPass pings b's gateway from every network's namespace on a.
func allPass(t *testing.T, a *node, ids []string, within time.Duration) {
	t.Helper()
	for _, id := range ids {
		pollPing(t, filepath.Join(a.netnsDir(), "n-"+id), netip.MustParseAddr("10.1.2.1"), within)
	}
}

// After a restart with 50 NRs every tunnel passes traffic again.
func TestRestart50(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	a.resync, b.resync = 2*time.Second, 2*time.Second
	wire(t, a, b, 1500)
	a.start(t)
	b.start(t)
	start := time.Now()
	ids := meshMany(t, a, b, 50)
	t.Logf("50 networks on two nodes (200 PUTs): %v", time.Since(start).Round(time.Millisecond))
	allPass(t, a, ids, 10*time.Second)
	a.stop(t)
	start = time.Now()
	a.start(t)
	up := time.Since(start)
	allPass(t, a, ids, 10*time.Second)
	t.Logf("restart with 50 NRs: API up after %v, all 50 tunnels pass after %v",
		up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
