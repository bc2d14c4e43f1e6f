package provision

import (
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// The convergence trace (issue 13): provisiond logs the first time each step of a
// network's convergence happened on this node, one line per step (message
// TraceMsg), so that a lab can collect the whole path from `network create` to the
// first packet between each pair (package scenario, Mesh.Trace). Steps without a peer
// concern the network; the others one peer member (attribute "peer", its node id).
// The attribute "at" is when the step happened (RFC 3339, nanoseconds), which for
// handshakes and probe answers is what WireGuard and the prober recorded, not when
// the pass noticed.
const (
	TraceMsg = "converge"

	StepDesired   = "desired"    // the watch delivered the network
	StepCreated   = "nr-created" // networkd made the NR (key and port)
	StepReported  = "reported"   // the registry has the NR's key and port
	StepPeerKnown = "peer-known" // the watch delivered the peer's key
	StepApplied   = "applied"    // networkd applied a spec with the peer in it
	StepHandshake = "handshake"  // first WireGuard handshake with the peer (direct peers)
	StepAnswer    = "answer"     // first overlay probe answer from the peer
)

// tracer logs each (network, step, peer) once. Safe for concurrent use (the watcher
// marks deliveries, the loop the rest).
type tracer struct {
	log  *slog.Logger
	mu   sync.Mutex
	done map[string]map[string]bool // network → step/peer → logged
}

func newTracer(log *slog.Logger) *tracer {
	return &tracer{log: log, done: map[string]map[string]bool{}}
}

// mark logs step of network (peer 0: the network itself) at time at, the first time.
func (t *tracer) mark(network, step string, peer int64, at time.Time) {
	k := step + "/" + strconv.FormatInt(peer, 10)
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.done[network]
	if d == nil {
		d = map[string]bool{}
		t.done[network] = d
	}
	if d[k] {
		return
	}
	d[k] = true
	attrs := []any{"step", step, "network", network, "at", at.UTC().Format(time.RFC3339Nano)}
	if peer != 0 {
		attrs = append(attrs, "peer", peer)
	}
	t.log.Info(TraceMsg, attrs...)
}

// forget drops a network's trace (the network is gone from the node).
func (t *tracer) forget(network string) {
	t.mu.Lock()
	delete(t.done, network)
	t.mu.Unlock()
}

// desired marks what a newly delivered desired state brings: each network, and each
// other member whose key it carries.
func (t *tracer) desired(self int64, d gridapi.Desired, at time.Time) {
	for _, n := range d.Networks {
		t.mark(n.ID, StepDesired, 0, at)
		for _, m := range n.Peers {
			if m.NodeID != self && m.NR != nil && m.NR.PublicKey != "" {
				t.mark(n.ID, StepPeerKnown, m.NodeID, at)
			}
		}
	}
}

// applied marks the peers of a spec networkd applied (by key, through the network's
// members) and the handshakes WireGuard reports for them.
func (t *tracer) applied(n gridapi.DesiredNetwork, cur nodeapi.NR, at time.Time) {
	byKey := map[string]int64{}
	for _, m := range n.Peers {
		if m.NR != nil && m.NR.PublicKey != "" {
			byKey[m.NR.PublicKey] = m.NodeID
		}
	}
	for _, p := range cur.Spec.Peers {
		if id, ok := byKey[p.PublicKey]; ok {
			t.mark(n.ID, StepApplied, id, at)
		}
	}
	for _, p := range cur.Status.Peers {
		if id, ok := byKey[p.PublicKey]; ok && p.LatestHandshake != nil && !p.LatestHandshake.IsZero() {
			t.mark(n.ID, StepHandshake, id, *p.LatestHandshake)
		}
	}
}

// answers marks the first probe answer of each member.
func (t *tracer) answers(network string, seen map[int64]time.Time) {
	for id, at := range seen {
		t.mark(network, StepAnswer, id, at)
	}
}
