package networkd

import (
	"maps"
	"net/netip"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

const hintsFile = "endpoints.json"

// Hidden peers have no configured endpoint: WireGuard learns it when they speak. A
// restarted userspace device would forget it and wait for the peer's next handshake
// (up to ~15 s with a stale session on the peer's side). So networkd remembers learned
// endpoints (at every reconcile and at Close) and gives them back to a new device,
// which then handshakes at once. A stale hint only costs one unanswered handshake.

// withHints returns s with learned endpoints filled in for peers that have none.
func (d *Daemon) withHints(s nodeapi.NRSpec) nodeapi.NRSpec {
	h := d.hints[s.NetworkID]
	if len(h) == 0 {
		return s
	}
	out := s
	out.Peers = make([]nodeapi.Peer, len(s.Peers))
	for i, p := range s.Peers {
		if p.Endpoint == "" {
			p.Endpoint = h[p.PublicKey]
		}
		out.Peers[i] = p
	}
	return out
}

// saveHints keeps next as the learned endpoints and persists them when they changed.
func (d *Daemon) saveHints(next map[string]map[string]string) error {
	if maps.EqualFunc(next, d.hints, maps.Equal) {
		return nil
	}
	d.hints = next
	return d.store.WriteJSON(hintsFile, next)
}

// loadHints reads the learned endpoints. They are only a cache: an entry that is not a
// valid key and ip:port (a hand-edited or damaged file) is dropped with a warning.
func (d *Daemon) loadHints() error {
	_, err := d.store.ReadJSON(hintsFile, &d.hints)
	if d.hints == nil {
		d.hints = map[string]map[string]string{}
	}
	for id, peers := range d.hints {
		for key, ep := range peers {
			if ap, perr := netip.ParseAddrPort(ep); perr != nil || ap.Port() == 0 || nodeapi.ValidKey(key) != nil {
				d.log.Warn("state file "+hintsFile+": dropping an invalid learned endpoint", "nr", id, "peer", key, "endpoint", ep)
				delete(peers, key)
			}
		}
	}
	return err
}
