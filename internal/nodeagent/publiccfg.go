package nodeagent

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// PublicConfigOf converts the registry's public config into networkd's (nil stays
// nil). NIC has no counterpart: networkd picks the public NIC itself.
func PublicConfigOf(p *gridapi.PublicConfig) (*nodeapi.PublicConfig, error) {
	if p == nil {
		return nil, nil
	}
	c := &nodeapi.PublicConfig{Domain: p.Domain}
	for _, f := range []struct {
		name, v string
		p       *netip.Prefix
		a       *netip.Addr
	}{{"ipv4", p.IPv4, &c.IPv4, nil}, {"gw4", p.GW4, nil, &c.GW4}, {"ipv6", p.IPv6, &c.IPv6, nil}, {"gw6", p.GW6, nil, &c.GW6}} {
		if f.v == "" {
			continue
		}
		var err error
		if f.p != nil {
			*f.p, err = netip.ParsePrefix(f.v)
		} else {
			*f.a, err = netip.ParseAddr(f.v)
		}
		if err != nil {
			return nil, fmt.Errorf("public config %s %q: %w", f.name, f.v, err)
		}
	}
	return c, c.Validate()
}

// ApplyPublicConfig makes networkd's public config (over its local API) what the
// registry says: set, changed, or removed when p is nil. An unchanged config is left
// alone, so it is safe to call with every desired state. provisiond's Apply calls it.
func ApplyPublicConfig(ctx context.Context, c *localapi.Client, p *gridapi.PublicConfig) error {
	want, err := PublicConfigOf(p)
	if err != nil {
		return err
	}
	cur, err := c.PublicConfig(ctx)
	if err != nil {
		return fmt.Errorf("read networkd's public config: %w", err)
	}
	switch {
	case want == nil && cur.Config == nil, want != nil && cur.Config != nil && *want == *cur.Config:
		return nil
	case want == nil:
		err = c.UnsetPublicConfig(ctx)
	default:
		err = c.SetPublicConfig(ctx, *want)
	}
	if err != nil {
		return fmt.Errorf("apply public config: %w", err)
	}
	return nil
}
