package plan

import (
	"cmp"
	"net/netip"
	"slices"
)

// CurrentPeer is a WireGuard peer as the interface reports it (the wgctrl fields the
// plan sets).
type CurrentPeer struct {
	PublicKey  string
	Endpoint   netip.AddrPort
	AllowedIPs []netip.Prefix
	Keepalive  int // seconds
}

// PeerChanges is what to do to an interface's peers to match a plan. Applying Remove,
// then Update and Add with "replace allowed IPs" in one configuration call is enough:
// an allowed IP that moves between two peers is handed over inside that call.
type PeerChanges struct {
	Add    []Peer   // peers to create, sorted by public key
	Update []Peer   // existing peers whose endpoint, allowed IPs or keepalive differ
	Remove []string // public keys of peers the plan no longer has, sorted
}

// Empty reports whether nothing needs to change.
func (c PeerChanges) Empty() bool { return len(c.Add)+len(c.Update)+len(c.Remove) == 0 }

// Reconcile diffs an interface's current peers against the desired ones (a
// MemberPlan's Peers, or WithRelay's result after a failover). Endpoints: a desired
// endpoint is authoritative; a peer planned without one keeps whatever endpoint
// WireGuard learned from it (a hidden peer's NAT address), so that is never a change.
// Allowed IPs compare as sets. Neither input is modified.
func Reconcile(current []CurrentPeer, desired []Peer) PeerChanges {
	cur := make(map[string]CurrentPeer, len(current))
	for _, c := range current {
		cur[c.PublicKey] = c
	}
	var ch PeerChanges
	want := make(map[string]bool, len(desired))
	for _, d := range desired {
		want[d.PublicKey] = true
		c, ok := cur[d.PublicKey]
		switch {
		case !ok:
			ch.Add = append(ch.Add, d)
		case differs(c, d):
			ch.Update = append(ch.Update, d)
		}
	}
	for _, c := range current {
		if !want[c.PublicKey] {
			ch.Remove = append(ch.Remove, c.PublicKey)
		}
	}
	byKey := func(a, b Peer) int { return cmp.Compare(a.PublicKey, b.PublicKey) }
	slices.SortFunc(ch.Add, byKey)
	slices.SortFunc(ch.Update, byKey)
	slices.Sort(ch.Remove)
	return ch
}

func differs(c CurrentPeer, d Peer) bool {
	if d.Endpoint.IsValid() && c.Endpoint != d.Endpoint {
		return true
	}
	if c.Keepalive != d.Keepalive {
		return true
	}
	a, b := slices.Clone(c.AllowedIPs), slices.Clone(d.AllowedIPs)
	for i := range a {
		a[i] = a[i].Masked()
	}
	slices.SortFunc(a, cmpPrefix)
	slices.SortFunc(b, cmpPrefix)
	return !slices.Equal(slices.Compact(a), slices.Compact(b))
}
