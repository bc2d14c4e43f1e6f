package provision

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// TestTrace runs home1's passes over the lab network on fakes and checks the trace:
// every network step once, every other keyed member known and applied, handshakes and
// probe answers at the times WireGuard and the prober recorded, nothing logged twice.
func TestTrace(t *testing.T) {
	var buf bytes.Buffer
	f := newFakeNodeWith(Config{Log: slog.New(slog.NewTextHandler(&buf, nil))})
	dn := gridLab(t)
	d := gridapi.Desired{NodeID: 2, Revision: 1, Networks: []gridapi.DesiredNetwork{dn}}
	f.pass(t, d)
	hs := time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.UTC)
	f.nd.mu.Lock()
	nr := f.nd.nrs[dn.ID]
	nr.Status.Peers = []nodeapi.PeerStatus{{PublicKey: dn.Peers[0].NR.PublicKey, LatestHandshake: &hs}, {PublicKey: dn.Peers[2].NR.PublicKey}}
	f.nd.nrs[dn.ID] = nr
	f.nd.mu.Unlock()
	ans := hs.Add(time.Second)
	f.mu.Lock()
	f.probes[0].mu.Lock()
	f.probes[0].seen = map[int64]time.Time{dn.Peers[2].NodeID: ans}
	f.probes[0].mu.Unlock()
	f.mu.Unlock()
	f.pass(t, d)
	f.pass(t, d)

	count := map[string]int{}
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(line, "msg="+TraceMsg+" ") {
			continue
		}
		step, _, _ := strings.Cut(line[strings.Index(line, "step=")+5:], " ")
		count[step]++
		if step == StepHandshake && (!strings.Contains(line, "at="+hs.Format(time.RFC3339Nano)) || !strings.Contains(line, "peer=1")) {
			t.Errorf("handshake line %q: want at=%s peer=1", line, hs.Format(time.RFC3339Nano))
		}
		if step == StepAnswer && !strings.Contains(line, "at="+ans.Format(time.RFC3339Nano)) {
			t.Errorf("answer line %q: want at=%s", line, ans.Format(time.RFC3339Nano))
		}
	}
	// Keyed others: farm1, home2, home6 (farm3 has no NR yet); WireGuard peers: farm1
	// and home2 (home6 is reached through the relay farm1).
	want := map[string]int{StepDesired: 1, StepCreated: 1, StepReported: 1, StepPeerKnown: 3, StepApplied: 2, StepHandshake: 1, StepAnswer: 1}
	for s, n := range want {
		if count[s] != n {
			t.Errorf("step %s logged %d times, want %d\n%s", s, count[s], n, buf.String())
		}
	}
}
