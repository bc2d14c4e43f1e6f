package provision

import (
	"slices"
	"strconv"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// DialGrace bounds how long a member that alone can start the handshake with a peer
// waits for the peer to list it in its report (gridapi.NRReport.Peers) before adding
// the peer anyway (a peer that never lists it, e.g. an older provisiond, is then
// dialed like before).
const DialGrace = 3 * time.Second

// holdDials leaves out of peers, for now, the entries this member alone dials (an
// endpoint and a keepalive: the peer has no endpoint for this member, see plan's
// links) whose member has not listed this node yet. WireGuard drops a handshake
// initiation from a key it does not know, and the initiator retries only after 5 s
// (REKEY_TIMEOUT); added after the peer knows this node, the first handshake
// completes at once. Entries already applied stay, and after DialGrace since the
// entry was first planned it is added anyway.
func (p *Provisioner) holdDials(n gridapi.DesiredNetwork, st *netState, cur nodeapi.NR, peers []plan.Peer, now time.Time) []plan.Peer {
	listed := map[string]bool{} // node id → lists this node
	for _, m := range n.Peers {
		if m.NR != nil && slices.Contains(m.NR.Peers, p.node) {
			listed[strconv.FormatInt(m.NodeID, 10)] = true
		}
	}
	applied := map[string]bool{}
	for _, pe := range cur.Spec.Peers {
		applied[pe.PublicKey] = true
	}
	if st.dialSince == nil {
		st.dialSince = map[string]time.Time{}
	}
	planned := map[string]bool{}
	out := peers[:0:0]
	for _, pe := range peers {
		planned[pe.PublicKey] = true
		dialsAlone := pe.Endpoint.IsValid() && pe.Keepalive > 0 && pe.NodeID != ""
		if !dialsAlone || applied[pe.PublicKey] || listed[pe.NodeID] {
			out = append(out, pe)
			continue
		}
		since, ok := st.dialSince[pe.PublicKey]
		if !ok {
			since = now
			st.dialSince[pe.PublicKey] = now
		}
		if now.Sub(since) >= DialGrace {
			p.log.Warn("peer has not listed this node; dialing anyway", "network", n.ID, "peer", pe.NodeID, "waited", now.Sub(since).Round(time.Millisecond))
			out = append(out, pe)
		}
	}
	for k := range st.dialSince {
		if !planned[k] {
			delete(st.dialSince, k)
		}
	}
	return out
}

// peerIDs returns the node ids of the members the NR has as WireGuard peers (sorted).
func peerIDs(n gridapi.DesiredNetwork, cur nodeapi.NR) []int64 {
	byKey := map[string]int64{}
	for _, m := range n.Peers {
		if m.NR != nil && m.NR.PublicKey != "" {
			byKey[m.NR.PublicKey] = m.NodeID
		}
	}
	var out []int64
	for _, pe := range cur.Spec.Peers {
		if id, ok := byKey[pe.PublicKey]; ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
