package networkd

import (
	"maps"

	"github.com/zosnet/zosnet/internal/resource"
)

const hintsFile = "endpoints.json"

// Hidden peers have no configured endpoint: WireGuard learns it when they speak. A
// restarted userspace device would forget it and wait for the peer's next handshake
// (up to ~15 s with a stale session on the peer's side). So networkd remembers learned
// endpoints (at every reconcile) and gives them back to a new device, which then
// handshakes at once. A stale hint only costs one unanswered handshake.

// withHints returns s with learned endpoints filled in for peers that have none.
func (d *Daemon) withHints(s resource.Spec) resource.Spec {
	h := d.hints[s.NetworkID]
	if len(h) == 0 {
		return s
	}
	out := s
	out.Peers = make([]resource.Peer, len(s.Peers))
	for i, p := range s.Peers {
		if p.Endpoint == "" {
			p.Endpoint = h[p.PublicKey]
		}
		out.Peers[i] = p
	}
	return out
}

// learnEndpoints records the endpoints WireGuard learned for peers without a configured
// one and persists them when they changed.
func (d *Daemon) learnEndpoints() error {
	next := map[string]map[string]string{}
	for id, s := range d.state.NRs {
		dev, _, err := d.app.Device(id)
		if err != nil || dev == nil {
			if old, ok := d.hints[id]; ok {
				next[id] = old
			}
			continue
		}
		hidden := map[string]bool{}
		for _, p := range s.Peers {
			hidden[p.PublicKey] = p.Endpoint == ""
		}
		for _, p := range dev.Peers {
			if k := p.PublicKey.String(); hidden[k] && p.Endpoint != nil {
				if next[id] == nil {
					next[id] = map[string]string{}
				}
				next[id][k] = p.Endpoint.String()
			}
		}
	}
	if maps.EqualFunc(next, d.hints, maps.Equal) {
		return nil
	}
	d.hints = next
	return d.store.WriteJSON(hintsFile, next)
}

func (d *Daemon) loadHints() error {
	_, err := d.store.ReadJSON(hintsFile, &d.hints)
	if d.hints == nil {
		d.hints = map[string]map[string]string{}
	}
	return err
}
