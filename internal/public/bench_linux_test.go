package public_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// BenchmarkPublicConfig20NRs: time to apply a public config change on farm1 with 20
// NRs. "move" toggles set/unset (every NR's WireGuard device is recreated with its
// sockets in the other namespace); "change" switches between two configs (the public
// namespace is re-addressed, sockets stay).
func BenchmarkPublicConfig20NRs(b *testing.B) {
	testkit.RequireRoot(b)
	l := upLab(b)
	n := bootNode(b, l, "farm1")
	var ports []uint16
	for i := range 20 {
		port := uint16(3100 + i)
		n.nr(b, oneNR(fmt.Sprintf("b%d", i), fmt.Sprintf("10.%d.1.0/24", 10+i), port), fmt.Sprintf("w%d", i))
		ports = append(ports, port)
	}
	cfgs := []*nodeapi.PublicConfig{
		{IPv4: pfx("203.0.113.10/24"), GW4: netip.MustParseAddr("203.0.113.1")},
		{IPv4: pfx("203.0.113.11/24"), GW4: netip.MustParseAddr("203.0.113.1"), IPv6: pfx("2001:db8:100::11/64"), GW6: netip.MustParseAddr("2001:db8:100::1")},
	}
	ctx := context.Background()
	run := func(b *testing.B, pick func(i int) *nodeapi.PublicConfig) {
		for i := 0; b.Loop(); i++ {
			if err := n.up.Apply(ctx, pick(i), ports); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("move", func(b *testing.B) {
		run(b, func(i int) *nodeapi.PublicConfig {
			if i%2 == 0 {
				return cfgs[1]
			}
			return nil
		})
	})
	if err := n.up.Apply(ctx, cfgs[0], ports); err != nil {
		b.Fatal(err)
	}
	b.Run("change", func(b *testing.B) { run(b, func(i int) *nodeapi.PublicConfig { return cfgs[(i+1)%2] }) })
}
