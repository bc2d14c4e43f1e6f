package gridapi

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// FieldError is a validation error that names the offending field.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error as "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// Limits on reported and requested data.
const (
	MaxNICs        = 64
	MaxAddrsPerNIC = 64
	MaxRoutes      = 256
	MaxEndpoints   = 32
	MaxWGPorts     = 1024
	MaxMembers     = 1024
	MaxAccessPeers = 256
	MaxRelayWeight = 1000
	MinSubnetBits  = 30 // the smallest member subnet is a /30
	DefaultSubnet  = 24
)

// ValidName checks a farm, node, network or access-peer name: 1–63 characters of
// [a-zA-Z0-9._-], starting with a letter or digit, not all digits (so that a name is
// never mistaken for a numeric id).
func ValidName(field, s string) error {
	if len(s) == 0 || len(s) > 63 {
		return fieldErr(field, "must be 1 to 63 characters, got %d", len(s))
	}
	digits := true
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			digits = false
		case (c == '-' || c == '_' || c == '.') && i > 0:
			digits = false
		default:
			return fieldErr(field, "invalid character %q (allowed: letters, digits, . _ -)", c)
		}
	}
	if digits {
		return fieldErr(field, "must not be all digits (ids are numbers)")
	}
	return nil
}

// ValidWGKey checks a base64 WireGuard (curve25519) public key.
func ValidWGKey(field, s string) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fieldErr(field, "not base64: %v", err)
	}
	if len(b) != 32 {
		return fieldErr(field, "key is %d bytes, want 32", len(b))
	}
	return nil
}

// Validate checks a farm creation.
func (f *FarmCreate) Validate() error { return ValidName("name", f.Name) }

// Validate checks a node registration.
func (n *NodeRegister) Validate() error {
	if n.FarmID <= 0 {
		return fieldErr("farm_id", "must be a positive farm id")
	}
	if err := ValidName("name", n.Name); err != nil {
		return err
	}
	if len(n.Version) > 64 {
		return fieldErr("version", "longer than 64 characters")
	}
	return nil
}

// Validate checks reported node facts.
func (f *NodeFacts) Validate() error {
	if len(f.NICs) > MaxNICs {
		return fieldErr("nics", "%d NICs, at most %d", len(f.NICs), MaxNICs)
	}
	for i := range f.NICs {
		if err := f.NICs[i].validate(fmt.Sprintf("nics[%d]", i)); err != nil {
			return err
		}
	}
	if len(f.Endpoints) > MaxEndpoints {
		return fieldErr("endpoints", "%d endpoints, at most %d", len(f.Endpoints), MaxEndpoints)
	}
	for i, e := range f.Endpoints {
		if err := e.validate(fmt.Sprintf("endpoints[%d]", i)); err != nil {
			return err
		}
	}
	if len(f.WGPorts) > MaxWGPorts {
		return fieldErr("wg_ports", "%d ports, at most %d", len(f.WGPorts), MaxWGPorts)
	}
	for i, p := range f.WGPorts {
		if p < 1 || p > 65535 {
			return fieldErr(fmt.Sprintf("wg_ports[%d]", i), "port %d out of 1-65535", p)
		}
	}
	if len(f.Version) > 64 {
		return fieldErr("version", "longer than 64 characters")
	}
	if f.RelayWeight < 0 || f.RelayWeight > MaxRelayWeight {
		return fieldErr("relay_weight", "%d out of 0-%d", f.RelayWeight, MaxRelayWeight)
	}
	return nil
}

func (n *NIC) validate(field string) error {
	if n.Name == "" || len(n.Name) > 15 {
		return fieldErr(field+".name", "must be 1 to 15 characters")
	}
	if len(n.Kind) > 32 {
		return fieldErr(field+".kind", "longer than 32 characters")
	}
	if n.MAC != "" {
		if _, err := net.ParseMAC(n.MAC); err != nil {
			return fieldErr(field+".mac", "not a MAC address: %q", n.MAC)
		}
	}
	if len(n.Addrs) > MaxAddrsPerNIC {
		return fieldErr(field+".addrs", "%d addresses, at most %d", len(n.Addrs), MaxAddrsPerNIC)
	}
	for i, a := range n.Addrs {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fieldErr(fmt.Sprintf("%s.addrs[%d]", field, i), "not an address/prefix: %q", a)
		}
	}
	if len(n.Routes) > MaxRoutes {
		return fieldErr(field+".routes", "%d routes, at most %d", len(n.Routes), MaxRoutes)
	}
	for i, r := range n.Routes {
		f := fmt.Sprintf("%s.routes[%d]", field, i)
		if _, err := netip.ParsePrefix(r.Dst); err != nil {
			return fieldErr(f+".dst", "not a prefix: %q", r.Dst)
		}
		if err := optAddr(f+".gw", r.Gw); err != nil {
			return err
		}
		if err := optAddr(f+".src", r.Src); err != nil {
			return err
		}
	}
	return nil
}

func optAddr(field, s string) error {
	if s == "" {
		return nil
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return fieldErr(field, "not an IP address: %q", s)
	}
	return nil
}

func (e *Endpoint) validate(field string) error {
	a, err := netip.ParseAddr(e.IP)
	if err != nil {
		return fieldErr(field+".ip", "not an IP address: %q", e.IP)
	}
	if fam := Family(a); e.Family != fam {
		return fieldErr(field+".family", "is %d but %s is IPv%d", e.Family, e.IP, fam)
	}
	if e.Reason == "" || len(e.Reason) > 32 {
		return fieldErr(field+".reason", "must be 1 to 32 characters")
	}
	return nil
}

// Family returns 4 or 6 (4-in-6 addresses count as 4).
func Family(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// Validate checks an egress allow list: at most nodeapi.MaxEgressAllow entries, each
// "prefix[:port/proto]" as nodeapi.ParseEgressAllow reads it, in its canonical form, no
// entry twice.
func (a *FarmEgressAllow) Validate() error {
	if len(a.Allow) > nodeapi.MaxEgressAllow {
		return fieldErr("allow", "%d entries, at most %d", len(a.Allow), nodeapi.MaxEgressAllow)
	}
	for i, s := range a.Allow {
		e, err := nodeapi.ParseEgressAllow(s)
		if err != nil {
			return fieldErr(fmt.Sprintf("allow[%d]", i), "%s", strings.TrimPrefix(err.Error(), nodeapi.ErrInvalid.Error()+": "))
		}
		if e.String() != s {
			return fieldErr(fmt.Sprintf("allow[%d]", i), "write %q as %q", s, e.String())
		}
		if slices.Contains(a.Allow[:i], s) {
			return fieldErr(fmt.Sprintf("allow[%d]", i), "%q listed twice", s)
		}
	}
	return nil
}

// Validate checks a public config with the rules networkd applies (package public):
// at least one address; each a public unicast address of its family with its prefix
// length (IPv4 /8–/31, IPv6 /48–/127), not the prefix's network address; a gateway of
// the same family is required with each, inside the prefix (IPv6: or link-local), not
// the node's own address; the domain a lower-case DNS name. NIC is registry-only.
func (p *PublicConfig) Validate() error {
	if len(p.NIC) > 15 {
		return fieldErr("nic", "longer than 15 characters")
	}
	if p.IPv4 == "" && p.IPv6 == "" {
		return fieldErr("ipv4", "set ipv4 and/or ipv6")
	}
	if err := addrGW("ipv4", "gw4", p.IPv4, p.GW4, true); err != nil {
		return err
	}
	if err := addrGW("ipv6", "gw6", p.IPv6, p.GW6, false); err != nil {
		return err
	}
	if p.Domain != "" && (len(p.Domain) > 253 || !domainRE.MatchString(p.Domain)) {
		return fieldErr("domain", "%q is not a lower-case DNS name", p.Domain)
	}
	return nil
}

var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

func addrGW(af, gf, addr, gw string, v4 bool) error {
	fam := map[bool]string{true: "IPv4", false: "IPv6"}[v4]
	if addr == "" {
		if gw != "" {
			return fieldErr(gf, "set without %s", af)
		}
		return nil
	}
	p, err := netip.ParsePrefix(addr)
	if err != nil || p.Addr().Is4() != v4 || p.Addr().Is4In6() {
		return fieldErr(af, "not an %s address/prefix: %q", fam, addr)
	}
	a := p.Addr()
	switch {
	case !a.IsGlobalUnicast() || a.IsPrivate():
		return fieldErr(af, "%s is not a public unicast address", a)
	case v4 && (p.Bits() < 8 || p.Bits() > 31), !v4 && (p.Bits() < 48 || p.Bits() > 127):
		return fieldErr(af, "prefix length /%d is out of range", p.Bits())
	case p.Masked().Addr() == a:
		return fieldErr(af, "%s is the network address of its prefix", a)
	case gw == "":
		return fieldErr(gf, "required with %s", af)
	}
	g, err := netip.ParseAddr(gw)
	switch {
	case err != nil || g.Is4() != v4 || g.Zone() != "" || g.Is4In6():
		return fieldErr(gf, "not an %s address: %q", fam, gw)
	case g == a:
		return fieldErr(gf, "%s is the node's own address", gw)
	case !p.Contains(g) && !(!v4 && g.IsLinkLocalUnicast()):
		return fieldErr(gf, "%s is not inside %s", gw, p.Masked())
	}
	return nil
}

// Normalize fills defaults (subnet size 24).
func (s *NetworkSpec) Normalize() {
	if s.SubnetSize == 0 {
		s.SubnetSize = DefaultSubnet
	}
}

// Validate checks a network spec on its own (call Normalize first); whether the range
// holds the members is checked when subnets are assigned.
func (s *NetworkSpec) Validate() error {
	if err := ValidName("name", s.Name); err != nil {
		return err
	}
	p, err := netip.ParsePrefix(s.IPRange)
	if err != nil || !p.Addr().Is4() {
		return fieldErr("ip_range", "not an IPv4 CIDR: %q", s.IPRange)
	}
	if p.Masked() != p {
		return fieldErr("ip_range", "host bits set: use %s", p.Masked())
	}
	if p.Bits() < 8 || p.Bits() > MinSubnetBits {
		return fieldErr("ip_range", "/%d must be between /8 and /%d", p.Bits(), MinSubnetBits)
	}
	if s.SubnetSize < p.Bits() || s.SubnetSize > MinSubnetBits {
		return fieldErr("subnet_size", "/%d must be between the range's /%d and /%d", s.SubnetSize, p.Bits(), MinSubnetBits)
	}
	if len(s.Members) > MaxMembers {
		return fieldErr("members", "%d members, at most %d", len(s.Members), MaxMembers)
	}
	for i, m := range s.Members {
		if m <= 0 {
			return fieldErr(fmt.Sprintf("members[%d]", i), "not a node id: %d", m)
		}
		if slices.Contains(s.Members[:i], m) {
			return fieldErr(fmt.Sprintf("members[%d]", i), "node %d listed twice", m)
		}
	}
	return s.validatePeers()
}

func (s *NetworkSpec) validatePeers() error {
	if len(s.AccessPeers) > MaxAccessPeers {
		return fieldErr("access_peers", "%d peers, at most %d", len(s.AccessPeers), MaxAccessPeers)
	}
	for i, a := range s.AccessPeers {
		f := fmt.Sprintf("access_peers[%d]", i)
		if err := ValidName(f+".name", a.Name); err != nil {
			return err
		}
		if len(a.Name) > 32 {
			return fieldErr(f+".name", "longer than 32 characters")
		}
		if err := ValidWGKey(f+".public_key", a.PublicKey); err != nil {
			return err
		}
		for _, b := range s.AccessPeers[:i] {
			if b.Name == a.Name {
				return fieldErr(f+".name", "%q listed twice", a.Name)
			}
			if b.PublicKey == a.PublicKey {
				return fieldErr(f+".public_key", "same key as peer %q", b.Name)
			}
		}
	}
	return nil
}

// Validate checks a network-resource report.
func (r *NRReport) Validate() error {
	if err := ValidWGKey("public_key", r.PublicKey); err != nil {
		return err
	}
	if r.ListenPort < 0 || r.ListenPort > 65535 {
		return fieldErr("listen_port", "%d out of 0-65535", r.ListenPort)
	}
	if len(r.Endpoints) > MaxEndpoints {
		return fieldErr("endpoints", "%d endpoints, at most %d", len(r.Endpoints), MaxEndpoints)
	}
	for i, e := range r.Endpoints {
		if _, err := netip.ParseAddrPort(e); err != nil {
			return fieldErr(fmt.Sprintf("endpoints[%d]", i), "not ip:port: %q", e)
		}
	}
	if !slices.Contains(NRStates, r.State) {
		return fieldErr("state", "%q is not one of %v", r.State, NRStates)
	}
	if len(r.LastError) > 1024 {
		return fieldErr("last_error", "longer than 1024 characters")
	}
	if len(r.Relay) > 20 {
		return fieldErr("relay", "longer than 20 characters")
	}
	if len(r.RelayGroups) > MaxMembers {
		return fieldErr("relay_groups", "%d entries, at most %d", len(r.RelayGroups), MaxMembers)
	}
	for i, g := range r.RelayGroups {
		if err := g.validate(fmt.Sprintf("relay_groups[%d]", i)); err != nil {
			return err
		}
	}
	if len(r.Seen) > MaxMembers {
		return fieldErr("seen", "%d entries, at most %d", len(r.Seen), MaxMembers)
	}
	for i, p := range r.Seen {
		if p.NodeID <= 0 {
			return fieldErr(fmt.Sprintf("seen[%d].node_id", i), "%d is not a node id", p.NodeID)
		}
	}
	if len(r.Peers) > MaxMembers {
		return fieldErr("peers", "%d entries, at most %d", len(r.Peers), MaxMembers)
	}
	for i, id := range r.Peers {
		if id <= 0 {
			return fieldErr(fmt.Sprintf("peers[%d]", i), "%d is not a node id", id)
		}
	}
	return r.validatePunch()
}

// validatePunch checks the report's direct-path parts: observed endpoints, NAT seen
// and punch states.
func (r *NRReport) validatePunch() error {
	if len(r.Observed) > MaxMembers {
		return fieldErr("observed", "%d entries, at most %d", len(r.Observed), MaxMembers)
	}
	for i, o := range r.Observed {
		f := fmt.Sprintf("observed[%d]", i)
		if o.NodeID <= 0 {
			return fieldErr(f+".node_id", "%d is not a node id", o.NodeID)
		}
		if _, err := netip.ParseAddrPort(o.Endpoint); err != nil {
			return fieldErr(f+".endpoint", "not ip:port: %q", o.Endpoint)
		}
	}
	if r.NAT != nil {
		if len(r.NAT.Endpoints) > MaxEndpoints {
			return fieldErr("nat.endpoints", "%d endpoints, at most %d", len(r.NAT.Endpoints), MaxEndpoints)
		}
		for i, e := range r.NAT.Endpoints {
			if _, err := netip.ParseAddrPort(e); err != nil {
				return fieldErr(fmt.Sprintf("nat.endpoints[%d]", i), "not ip:port: %q", e)
			}
		}
		if !slices.Contains([]string{"endpoint-independent", "endpoint-dependent", "unknown"}, r.NAT.Mapping) {
			return fieldErr("nat.mapping", "%q is not endpoint-independent, endpoint-dependent or unknown", r.NAT.Mapping)
		}
	}
	if len(r.Punch) > MaxMembers {
		return fieldErr("punch", "%d entries, at most %d", len(r.Punch), MaxMembers)
	}
	for i, p := range r.Punch {
		f := fmt.Sprintf("punch[%d]", i)
		if p.NodeID <= 0 {
			return fieldErr(f+".node_id", "%d is not a node id", p.NodeID)
		}
		if !slices.Contains(PunchPhases, p.Phase) {
			return fieldErr(f+".phase", "%q is not one of %v", p.Phase, PunchPhases)
		}
		if len(p.Reason) > 512 {
			return fieldErr(f+".reason", "longer than 512 characters")
		}
	}
	return nil
}

func (g RelayGroupUse) validate(field string) error {
	if len(g.Relays) < 1 || len(g.Relays) > 2 {
		return fieldErr(field+".relays", "%d relays, want 1 or 2", len(g.Relays))
	}
	for i, r := range g.Relays {
		if r == "" || len(r) > 20 {
			return fieldErr(fmt.Sprintf("%s.relays[%d]", field, i), "%q is not a node id", r)
		}
	}
	if !slices.Contains(g.Relays, g.Current) {
		return fieldErr(field+".current", "%q is not one of the group's relays", g.Current)
	}
	return nil
}
