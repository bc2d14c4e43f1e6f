package nodeapi

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// PublicConfig is the farmer's public config of one node: static public addresses
// with their gateways, from which networkd builds the `public` namespace where the
// WireGuard sockets then live (package public).
type PublicConfig struct {
	// NIC is the public NIC br-pub must use; "" lets the node pick (RA probe, else zos).
	NIC string `json:"nic,omitempty"`
	// IPv4 is the node's public IPv4 address with its prefix length ("" = none).
	IPv4 netip.Prefix `json:"ipv4,omitzero"`
	// GW4 is the IPv4 gateway, inside IPv4 (required with IPv4).
	GW4 netip.Addr `json:"gw4,omitzero"`
	// IPv6 is a static public IPv6 address with prefix length ("" = SLAAC).
	IPv6 netip.Prefix `json:"ipv6,omitzero"`
	// GW6 is the IPv6 gateway: inside IPv6 or link-local (required with IPv6).
	GW6 netip.Addr `json:"gw6,omitzero"`
	// Domain is an optional DNS name of the node's public address.
	Domain string `json:"domain,omitempty"`
}

var nicRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,14}$`)

var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

func invalidPC(field, format string, args ...any) error {
	return invalid("public config", field, format, args...)
}

// ParsePublicConfig is the one parser of a public config's textual form (the
// registry's, the CLI's flags): addresses with prefix length for ipv4 and ipv6, plain
// addresses for the gateways, "" for none. It checks only the syntax and returns the
// first bad field as `gw4 "x": not an IP address` (field first, so the CLI can name its
// flag); Validate checks the rest. The NIC is not part of it: the node picks it.
func ParsePublicConfig(ipv4, gw4, ipv6, gw6, domain string) (PublicConfig, error) {
	c := PublicConfig{Domain: domain}
	for _, f := range []struct {
		name, v string
		p       *netip.Prefix
		a       *netip.Addr
	}{{"ipv4", ipv4, &c.IPv4, nil}, {"gw4", gw4, nil, &c.GW4}, {"ipv6", ipv6, &c.IPv6, nil}, {"gw6", gw6, nil, &c.GW6}} {
		if f.v == "" {
			continue
		}
		var err error
		if f.p != nil {
			if *f.p, err = netip.ParsePrefix(f.v); err != nil {
				return c, fmt.Errorf("%s %q: not an IP address with prefix length (e.g. 203.0.113.10/24)", f.name, f.v)
			}
		} else if *f.a, err = netip.ParseAddr(f.v); err != nil {
			return c, fmt.Errorf("%s %q: not an IP address", f.name, f.v)
		}
	}
	return c, nil
}

// Validate checks every field and returns the first problem, naming the field.
func (c *PublicConfig) Validate() error {
	if !c.IPv4.IsValid() && !c.IPv6.IsValid() {
		return invalidPC("ipv4", "set ipv4 and/or ipv6")
	}
	if err := checkAddr("ipv4", "gw4", c.IPv4, c.GW4, true); err != nil {
		return err
	}
	if err := checkAddr("ipv6", "gw6", c.IPv6, c.GW6, false); err != nil {
		return err
	}
	if c.NIC != "" && (!nicRE.MatchString(c.NIC) || OwnLink(c.NIC)) {
		return invalidPC("nic", "%q is not a NIC name (1-15 of [a-zA-Z0-9._-], not one of the node's own links)", c.NIC)
	}
	if c.Domain != "" && (len(c.Domain) > 253 || !domainRE.MatchString(c.Domain)) {
		return invalidPC("domain", "%q is not a lower-case DNS name", c.Domain)
	}
	return nil
}

func checkAddr(field, gwField string, p netip.Prefix, gw netip.Addr, v4 bool) error {
	if !p.IsValid() {
		if gw.IsValid() {
			return invalidPC(gwField, "set without %s", field)
		}
		return nil
	}
	a := p.Addr()
	switch {
	case a.Is4() != v4 || a.Is4In6():
		return invalidPC(field, "%s is not an %s address", p, map[bool]string{true: "IPv4", false: "IPv6"}[v4])
	case !a.IsGlobalUnicast() || a.IsPrivate():
		return invalidPC(field, "%s is not a public unicast address", a)
	case v4 && (p.Bits() < 8 || p.Bits() > 31), !v4 && (p.Bits() < 48 || p.Bits() > 127):
		return invalidPC(field, "prefix length /%d is out of range", p.Bits())
	case p.Masked().Addr() == a:
		return invalidPC(field, "%s is the network address of its prefix", a)
	case !gw.IsValid():
		return invalidPC(gwField, "required with %s", field)
	case gw.Is4() != v4 || gw.Zone() != "":
		return invalidPC(gwField, "%s is not an %s address", gw, map[bool]string{true: "IPv4", false: "IPv6"}[v4])
	case gw == a:
		return invalidPC(gwField, "%s is the node's own address", gw)
	case !p.Contains(gw) && !(!v4 && gw.IsLinkLocalUnicast()):
		return invalidPC(gwField, "%s is not inside %s", gw, p.Masked())
	}
	return nil
}

// OwnLink reports whether a link name is one of the node's own links (bridges, veths,
// taps the stack makes), never a physical NIC that could be the public one.
func OwnLink(name string) bool {
	for _, p := range []string{"b-", "v-", "c-", "t-", "p-", "ndmz-", "pub-", "zos", "br-", "lo"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// PublicConfigState is /v1/public-config: the farmer's public config, nil when unset.
type PublicConfigState struct {
	Config *PublicConfig `json:"config"`
}
