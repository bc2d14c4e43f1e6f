package plan

import (
	"reflect"
	"slices"
	"testing"
)

func TestReconcile(t *testing.T) {
	a := Peer{PublicKey: key(1), Endpoint: ap("198.51.100.1:1"), AllowedIPs: pfxs("10.0.1.0/24", "fd00::/64"), Path: PathDirect}
	h := Peer{PublicKey: key(2), AllowedIPs: pfxs("10.0.2.0/24"), Path: PathDirect}
	cur := func(p Peer) CurrentPeer {
		return CurrentPeer{PublicKey: p.PublicKey, Endpoint: p.Endpoint, AllowedIPs: p.AllowedIPs, Keepalive: p.Keepalive}
	}
	roamed := cur(h)
	roamed.Endpoint = ap("203.0.113.5:40000") // learned from the hidden peer's NAT
	shuffled := cur(a)
	shuffled.AllowedIPs = pfxs("fd00::/64", "10.0.1.0/24", "10.0.1.0/24")
	moved := a
	moved.Endpoint = ap("198.51.100.9:1")
	ka := a
	ka.Keepalive = 25
	more := h
	more.AllowedIPs = pfxs("10.0.2.0/24", "10.0.3.0/24")
	tests := []struct {
		name    string
		current []CurrentPeer
		desired []Peer
		want    PeerChanges
	}{
		{"empty", nil, nil, PeerChanges{}},
		{"in sync", []CurrentPeer{cur(a), cur(h)}, []Peer{h, a}, PeerChanges{}},
		{"learned endpoint of a peer planned without one", []CurrentPeer{cur(a), roamed}, []Peer{a, h}, PeerChanges{}},
		{"allowed IPs in another order, duplicated", []CurrentPeer{shuffled}, []Peer{a}, PeerChanges{}},
		{"add and remove", []CurrentPeer{cur(a)}, []Peer{h}, PeerChanges{Add: []Peer{h}, Remove: []string{key(1)}}},
		{"endpoint changed", []CurrentPeer{cur(a)}, []Peer{moved}, PeerChanges{Update: []Peer{moved}}},
		{"keepalive changed", []CurrentPeer{cur(a)}, []Peer{ka}, PeerChanges{Update: []Peer{ka}}},
		{"allowed IPs grew (failover)", []CurrentPeer{cur(h)}, []Peer{more}, PeerChanges{Update: []Peer{more}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Reconcile(tt.current, tt.desired)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Reconcile = %+v, want %+v", got, tt.want)
			}
			if got.Empty() != (len(tt.want.Add)+len(tt.want.Update)+len(tt.want.Remove) == 0) {
				t.Fatalf("Empty() = %v", got.Empty())
			}
		})
	}
}

// After a failover only relay entries change, each group's allowed IPs on its second.
func TestReconcileFailover(t *testing.T) {
	p, err := New(labInput())
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Member("home6")
	if err != nil {
		t.Fatal(err)
	}
	var current []CurrentPeer
	for _, pe := range m.Peers {
		current = append(current, CurrentPeer{PublicKey: pe.PublicKey, Endpoint: pe.Endpoint, AllowedIPs: pe.AllowedIPs, Keepalive: pe.Keepalive})
	}
	seconds := onSecond(m)
	moved := WithRelay(m, seconds)
	ch := Reconcile(current, moved)
	if len(ch.Add) != 0 || len(ch.Remove) != 0 || len(ch.Update) == 0 {
		t.Fatalf("changes = %+v, want only updates", ch)
	}
	for _, u := range ch.Update {
		if !slices.ContainsFunc(m.RelayGroups, func(g RelayGroup) bool { return slices.Contains(g.Relays, u.NodeID) }) {
			t.Errorf("failover updates %s, which relays no group", u.NodeID)
		}
	}
	for k, g := range m.RelayGroups {
		for _, r := range g.Relays {
			pe, _ := findPeer(moved, r)
			for _, a := range g.AllowedIPs {
				if slices.Contains(pe.AllowedIPs, a) != (r == seconds[k]) {
					t.Errorf("after failover to %s, entry %s carries %s: %v", seconds[k], r, a, !(r == seconds[k]))
				}
			}
		}
	}
	for _, primary := range [][]string{nil, primaries(m), make([]string, len(m.RelayGroups))} {
		if !Reconcile(current, WithRelay(m, primary)).Empty() {
			t.Fatalf("staying on the primary (%q) changes something", primary)
		}
	}
}
