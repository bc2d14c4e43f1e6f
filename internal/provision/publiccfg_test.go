package provision

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/zosnet/zosnet/internal/endpoints"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// TestValidatorsAgree: the registry accepts exactly the public configs networkd accepts.
func TestValidatorsAgree(t *testing.T) {
	for _, p := range []gridapi.PublicConfig{
		{IPv4: "203.0.113.10/24", GW4: "203.0.113.1"},
		{IPv4: "203.0.113.10/24"},
		{IPv4: "10.0.0.5/24", GW4: "10.0.0.1"},
		{IPv4: "203.0.113.0/24", GW4: "203.0.113.1"},
		{IPv4: "203.0.113.10/32", GW4: "203.0.113.1"},
		{IPv4: "203.0.113.10/24", GW4: "198.51.100.1"},
		{IPv6: "2001:db8:100::10/64", GW6: "fe80::1"},
		{IPv6: "2001:db8:100::10/64", GW6: "2001:db8:100::10"},
		{IPv6: "2001:db8:100::10/40", GW6: "2001:db8:100::1"},
		{IPv6: "fd00::10/64", GW6: "fd00::1"},
		{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", Domain: "Bad Name"},
		{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", Domain: "node.example.org"},
		{GW4: "203.0.113.1"},
		{},
	} {
		c, errPub := nodeapi.ParsePublicConfig(p.IPv4, p.GW4, p.IPv6, p.GW6, p.Domain)
		if errPub == nil {
			errPub = c.Validate()
		}
		errReg := p.Validate()
		if (errPub == nil) != (errReg == nil) {
			t.Errorf("%+v: networkd says %v, registry says %v", p, errPub, errReg)
		}
	}
}

// TestApplyPublic: the registry's public config reaches networkd once per change (set,
// unchanged: no call, change, unset) and the agent gets it for the facts; a config
// networkd refuses is not taken as applied, and is tried again on the next pass.
func TestApplyPublic(t *testing.T) {
	f := newFakeNode()
	ctx := context.Background()
	pc := &gridapi.PublicConfig{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", NIC: "eth1"}
	for i, step := range []struct {
		p        *gridapi.PublicConfig
		wantSets int
		wantIPv4 string
	}{
		{pc, 1, "203.0.113.10/24"},
		{pc, 1, "203.0.113.10/24"}, // unchanged: not sent again
		{&gridapi.PublicConfig{IPv4: "203.0.113.11/24", GW4: "203.0.113.1"}, 2, "203.0.113.11/24"},
		{nil, 3, ""},
		{nil, 3, ""},
	} {
		f.p.applyPublic(ctx, step.p)
		got := ""
		if f.nd.pub != nil {
			got = f.nd.pub.IPv4.String()
		}
		if f.nd.pubSets != step.wantSets || got != step.wantIPv4 {
			t.Fatalf("step %d: %d calls, ipv4 %q; want %d, %q", i, f.nd.pubSets, got, step.wantSets, step.wantIPv4)
		}
		if a := f.agent.public; len(a) != step.wantSets || a[len(a)-1] != step.p {
			t.Fatalf("step %d: the agent got %v", i, a)
		}
	}
	bad := &gridapi.PublicConfig{IPv4: "10.0.0.1/24", GW4: "10.0.0.2"}
	f.p.applyPublic(ctx, bad)
	f.p.applyPublic(ctx, bad)
	if f.nd.pubSets != 5 || f.nd.pub != nil || len(f.agent.public) != 3 {
		t.Fatalf("refused config: %d calls (want 5: tried again), networkd has %+v, agent got %d", f.nd.pubSets, f.nd.pub, len(f.agent.public))
	}
	f.p.applyPublic(ctx, &gridapi.PublicConfig{IPv4: "203.0.113.10", GW4: "203.0.113.1"})
	if f.nd.pubSets != 5 {
		t.Fatalf("a config that does not parse reached networkd (%d calls)", f.nd.pubSets)
	}
}

// TestApplyEgressAllow: the farm's allow list reaches networkd once per change, parsed;
// a list with an entry that does not parse is not sent at all (nothing half-applied).
func TestApplyEgressAllow(t *testing.T) {
	f := newFakeNode()
	ctx := context.Background()
	for i, step := range []struct {
		allow []string
		calls int
		want  string
	}{
		{[]string{"10.201.0.50/32:873/tcp"}, 1, "[10.201.0.50/32:873/tcp]"},
		{[]string{"10.201.0.50/32:873/tcp"}, 1, "[10.201.0.50/32:873/tcp]"},
		{[]string{"10.201.0.50/32:873/tcp", "nas"}, 1, "[10.201.0.50/32:873/tcp]"},
		{[]string{}, 2, "[]"},
		{nil, 2, "[]"},
	} {
		f.p.applyEgressAllow(ctx, step.allow)
		if got := fmt.Sprint(f.nd.allow); f.nd.allows != step.calls || got != step.want {
			t.Fatalf("step %d: %d calls, networkd has %s; want %d, %s", i, f.nd.allows, got, step.calls, step.want)
		}
	}
}

func TestEndpointsFrom(t *testing.T) {
	st := nodeapi.UplinkStatus{Hidden: false, Endpoints: []endpoints.Endpoint{
		{Addr: netip.MustParseAddr("2001:db8:100::10"), Family: "ipv6", Where: endpoints.PublicConfig, Reason: "farmer's public config"},
		{Addr: netip.MustParseAddr("2001:db8:100::5a"), Family: "ipv6", Where: endpoints.PublicSegment},
		{Addr: netip.MustParseAddr("203.0.113.10"), Family: "ipv4", Where: endpoints.Management},
	}}
	eps, hidden := endpointsFrom(st)
	f := gridapi.NodeFacts{Endpoints: eps, Hidden: hidden}
	want := []string{gridapi.ReasonPublicConfig, gridapi.ReasonPublicSegment, gridapi.ReasonPublicIPv4}
	if err := f.Validate(); err != nil || hidden || len(eps) != 3 || eps[2].Family != 4 ||
		eps[0].Reason != want[0] || eps[1].Reason != want[1] || eps[2].Reason != want[2] {
		t.Fatalf("%+v hidden=%v: %v", eps, hidden, err)
	}
	if eps, hidden := endpointsFrom(nodeapi.UplinkStatus{Hidden: true}); !hidden || eps == nil || len(eps) != 0 {
		t.Fatalf("hidden node: %+v %v", eps, hidden)
	}
	// a dual-stack hidden node (issue 19): its firewalled global IPv6 is an unreachable
	// candidate, so the planner lets it dial IPv6-only public nodes directly
	home := nodeapi.UplinkStatus{Hidden: true, Refused: []endpoints.Refused{
		{Addr: netip.MustParseAddr("172.29.6.100"), Reason: "private"},
		{Addr: netip.MustParseAddr("2001:db8:600::7"), Reason: "firewalled", Outgoing: true},
	}}
	eps, hidden = endpointsFrom(home)
	f = gridapi.NodeFacts{Endpoints: eps, Hidden: hidden}
	if err := f.Validate(); err != nil || !hidden || len(eps) != 1 || eps[0].IP != "2001:db8:600::7" || eps[0].Reachable() || eps[0].Reason != gridapi.ReasonGlobalIPv6 {
		t.Fatalf("dual-stack hidden node: %+v hidden=%v: %v", eps, hidden, err)
	}
}

// TestFactsFromNetworkd: what provisiond adds to the facts comes from networkd's status
// once it manages the uplinks (before, nil: the agent classifies the NICs), and the
// NRs' listen ports.
func TestFactsFromNetworkd(t *testing.T) {
	ctx := context.Background()
	nd := newFakeNetworkd()
	if eps, _ := endpointsOf(ctx, nd); eps != nil {
		t.Fatalf("uplinks not managed yet: %+v, want nil", eps)
	}
	nd.status.Managed = true
	nd.status.Endpoints = []endpoints.Endpoint{{Addr: netip.MustParseAddr("203.0.113.10"), Family: "ipv4", Where: endpoints.PublicConfig}}
	if eps, hidden := endpointsOf(ctx, nd); len(eps) != 1 || eps[0].Reason != gridapi.ReasonPublicConfig || hidden {
		t.Fatalf("managed: %+v hidden=%v", eps, hidden)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := nd.PutNR(ctx, nodeapi.NRSpec{NetworkID: id, IPRange: netip.MustParsePrefix("10.1.0.0/16"), Subnet: netip.MustParsePrefix("10.1.1.0/24")}); err != nil {
			t.Fatal(err)
		}
	}
	if got := wgPorts(ctx, nd); len(got) != 2 || got[0] != 3000 || got[1] != 3001 {
		t.Errorf("wg ports %v, want [3000 3001]", got)
	}
}
