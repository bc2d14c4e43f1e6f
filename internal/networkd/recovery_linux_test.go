package networkd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/testkit"
)

// TestKillKeepsLearnedEndpoints: the endpoint a hidden peer dials from is persisted as
// soon as it is seen (no resync, no graceful stop: the resync is an hour here), so a
// networkd killed right after the peer's first handshake comes back knowing it, says
// so in /v1/node, and handshakes with the peer at once instead of waiting for the
// peer's own rekey (≥ 15 s).
func TestKillKeepsLearnedEndpoints(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	t.Setenv("ZOSNET_TEST_NO_RESYNC", "1")
	a, b := newNode(t), newNode(t)
	wire(t, a, b, 1500)
	a.startProc(t)
	b.start(t)
	_, nb := meshPair(t, a, b, "net1") // b is hidden: a has no endpoint for it
	wa, wb := addWL(t, a, "net1", "wa"), addWL(t, b, "net1", "wb")
	pollPing(t, filepath.Join(b.netnsDir(), wb.Netns), wa.IPv4.Addr(), 10*time.Second)
	hints := filepath.Join(a.stateDir(), "endpoints.json")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if raw, _ := os.ReadFile(hints); strings.Contains(string(raw), nb.Status.PublicKey) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b's learned endpoint not persisted 10 s after its handshake, without a resync")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.kill(t)
	restart := time.Now()
	a.startProc(t)
	st, err := a.cl.NodeStatus(bg)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Restored; r == nil || len(r.NRs) != 1 || r.NRs[0] != "net1" || r.LearnedEndpoints != 1 || r.Workloads != 1 {
		t.Fatalf("restored: %+v, want net1 with 1 learned endpoint and 1 workload", st.Restored)
	}
	// a handshakes with b by itself; b's rekey would take ≥ 15 s (its keepalive is 25 s)
	deadline = time.Now().Add(10 * time.Second)
	for {
		nr, err := a.cl.GetNR(bg, "net1")
		if err == nil && len(nr.Status.Peers) == 1 && nr.Status.Peers[0].LatestHandshake != nil &&
			nr.Status.Peers[0].LatestHandshake.After(restart.Add(-time.Second)) {
			t.Logf("handshake with the hidden peer %v after the restart", nr.Status.Peers[0].LatestHandshake.Sub(restart).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handshake with the hidden peer within 10 s of the restart: %+v %v", nr.Status.Peers, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pollPing(t, filepath.Join(a.netnsDir(), wa.Netns), wb.IPv4.Addr(), 5*time.Second)
}
