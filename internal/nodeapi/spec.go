package nodeapi

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"

	"github.com/zosnet/zosnet/internal/ula"
)

// NRSpec is the desired state of one network resource (NR), as sent by provisiond:
// one user network's piece on this node.
type NRSpec struct {
	// NetworkID is the network's stable id from the registry, [a-z0-9]{1,11}, so that
	// n-, b- and w- plus the id fit in a 15-byte interface name.
	NetworkID string `json:"network_id"`
	// Name is the network's name in the registry, for people: the CLI accepts it
	// wherever it accepts the id. Optional; 1 to 63 characters of letters, digits and
	// . _ - (the registry's rule).
	Name string `json:"name,omitempty"`
	// IPRange is the whole network's IPv4 range (prefix length 8..30).
	IPRange netip.Prefix `json:"ip_range"`
	// Subnet is this node's IPv4 subnet inside IPRange (prefix length ≤ 30).
	Subnet netip.Prefix `json:"subnet"`
	// ListenPort is the WireGuard UDP port; 0 means the node allocates one.
	ListenPort uint16 `json:"listen_port"`
	// Peers are the other members of the network this node talks to directly.
	Peers []Peer `json:"peers"`
}

// Peer is one WireGuard peer of a network resource.
type Peer struct {
	// PublicKey is the peer's WireGuard public key, base64 of 32 bytes.
	PublicKey string `json:"public_key"`
	// Endpoint is "ip:port" or "[v6]:port"; empty for a hidden peer, which must
	// speak first (it is reached at the address it last spoke from).
	Endpoint string `json:"endpoint,omitempty"`
	// AllowedIPs are the prefixes routed to this peer: IPv4 prefixes inside the
	// network's range (their ULA twins are added by the node) or IPv6 prefixes.
	AllowedIPs []netip.Prefix `json:"allowed_ips"`
	// PersistentKeepalive is the keepalive interval in seconds; 0 turns it off.
	PersistentKeepalive int `json:"persistent_keepalive,omitempty"`
}

var idRE = regexp.MustCompile(`^[a-z0-9]{1,11}$`)

// invalid wraps ErrInvalid: "invalid <what>: <field>: <reason>".
func invalid(what, field, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s: %s", ErrInvalid, what, field, fmt.Sprintf(format, args...))
}

func invalidNR(field, format string, args ...any) error {
	return invalid("network resource", field, format, args...)
}

// ValidID checks a network id: [a-z0-9]{1,11}.
func ValidID(id string) error {
	if !idRE.MatchString(id) {
		return invalidNR("network_id", "%q must be 1 to 11 characters of [a-z0-9]", id)
	}
	return nil
}

var netNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func validName(name string) error {
	if name != "" && !netNameRE.MatchString(name) {
		return invalidNR("name", "%q must be 1 to 63 characters of letters, digits and . _ - (not starting with . _ -)", name)
	}
	return nil
}

// Validate checks every field of s and returns the first problem, naming its field.
// It does no I/O; whether a requested port is free is checked by the port allocator.
func (s *NRSpec) Validate() error {
	if err := ValidID(s.NetworkID); err != nil {
		return err
	}
	if err := validName(s.Name); err != nil {
		return err
	}
	if err := s.validateRanges(); err != nil {
		return err
	}
	seenKeys := make(map[string]int, len(s.Peers))
	sub6 := s.Subnet6() // a hash: once, not per allowed IP
	for i := range s.Peers {
		field := "peers[" + strconv.Itoa(i) + "]"
		if j, dup := seenKeys[s.Peers[i].PublicKey]; dup {
			return invalidNR(field+".public_key", "same key as peers[%d]", j)
		}
		seenKeys[s.Peers[i].PublicKey] = i
		if err := s.validatePeer(field, &s.Peers[i], sub6); err != nil {
			return err
		}
	}
	if !s.overlapping() {
		return nil
	}
	return s.firstOverlap()
}

// overlapping reports whether two peers' allowed IPs overlap, in O(n log n) for n
// prefixes: sorted by start address (wider first), a prefix overlaps an earlier one
// exactly when it starts inside the earlier one that reaches furthest. A network of
// 1,000 members has 2,000 prefixes; the pairwise check cost 2 million comparisons.
func (s *NRSpec) overlapping() bool {
	var all []netip.Prefix
	for _, p := range s.Peers {
		all = append(all, p.AllowedIPs...)
	}
	slices.SortFunc(all, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var reach netip.Prefix // the earlier prefix of the same family reaching furthest
	for _, a := range all {
		if reach.IsValid() && reach.Contains(a.Addr()) {
			return true
		}
		reach = a // disjoint from every earlier one: it reaches further than all of them
	}
	return false
}

// firstOverlap names the first allowed IP (in peer order) that overlaps one of an
// earlier peer or entry: the pairwise scan, run only once overlapping found one.
func (s *NRSpec) firstOverlap() error {
	var taken []netip.Prefix
	for i, p := range s.Peers {
		for j, a := range p.AllowedIPs {
			for _, t := range taken {
				if t.Overlaps(a) {
					return invalidNR("peers["+strconv.Itoa(i)+"].allowed_ips["+strconv.Itoa(j)+"]", "%s overlaps %s, allowed to another peer", a, t)
				}
			}
			taken = append(taken, a)
		}
	}
	return nil
}

func (s *NRSpec) validateRanges() error {
	r, n := s.IPRange, s.Subnet
	switch {
	case !r.IsValid() || !r.Addr().Is4():
		return invalidNR("ip_range", "must be an IPv4 CIDR")
	case r.Bits() < 8 || r.Bits() > 30:
		return invalidNR("ip_range", "prefix length %d not in 8..30", r.Bits())
	case r.Masked() != r:
		return invalidNR("ip_range", "%s has host bits set (use %s)", r, r.Masked())
	case !n.IsValid() || !n.Addr().Is4():
		return invalidNR("subnet", "must be an IPv4 CIDR")
	case n.Masked() != n:
		return invalidNR("subnet", "%s has host bits set (use %s)", n, n.Masked())
	case n.Bits() > 30:
		return invalidNR("subnet", "prefix length %d leaves no room for a gateway and a workload", n.Bits())
	case n.Bits() < r.Bits() || !r.Contains(n.Addr()):
		return invalidNR("subnet", "%s is not inside ip_range %s", n, r)
	}
	return nil
}

func (s *NRSpec) validatePeer(field string, p *Peer, sub6 netip.Prefix) error {
	if err := ValidKey(p.PublicKey); err != nil {
		return invalidNR(field+".public_key", "%v", err)
	}
	if p.Endpoint != "" {
		ap, err := netip.ParseAddrPort(p.Endpoint)
		if err != nil || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().Zone() != "" {
			return invalidNR(field+".endpoint", "%q must be ip:port or [ipv6]:port with a non-zero port", p.Endpoint)
		}
	}
	if p.PersistentKeepalive < 0 || p.PersistentKeepalive > 65535 {
		return invalidNR(field+".persistent_keepalive", "%d not in 0..65535 seconds", p.PersistentKeepalive)
	}
	if len(p.AllowedIPs) == 0 {
		return invalidNR(field+".allowed_ips", "at least one prefix is needed")
	}
	for j, a := range p.AllowedIPs {
		f := field + ".allowed_ips[" + strconv.Itoa(j) + "]"
		if err := s.validateAllowed(f, a, sub6); err != nil {
			return err
		}
	}
	return nil
}

func (s *NRSpec) validateAllowed(field string, a, sub6 netip.Prefix) error {
	switch {
	case !a.IsValid():
		return invalidNR(field, "not a CIDR")
	case a.Masked() != a:
		return invalidNR(field, "%s has host bits set (use %s)", a, a.Masked())
	case a.Addr().Is4() && (a.Bits() < s.IPRange.Bits() || !s.IPRange.Contains(a.Addr())):
		return invalidNR(field, "%s is not inside ip_range %s", a, s.IPRange)
	case a.Overlaps(s.Subnet):
		return invalidNR(field, "%s overlaps this node's subnet %s", a, s.Subnet)
	case a.Addr().Is6() && a.Overlaps(sub6):
		return invalidNR(field, "%s overlaps this node's IPv6 subnet", a)
	case a.Addr().Is6() && a.Bits() < 8:
		return invalidNR(field, "%s is too wide (prefix length < 8)", a)
	}
	return nil
}

// ValidKey checks a WireGuard key: base64 (standard, padded) of exactly 32 bytes.
func ValidKey(k string) error {
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return fmt.Errorf("not base64: %v", err)
	}
	if len(b) != 32 {
		return fmt.Errorf("decodes to %d bytes, want 32", len(b))
	}
	return nil
}

// Gateway returns the node's gateway address in its subnet (the first host address).
func (s *NRSpec) Gateway() netip.Addr { return s.Subnet.Addr().Next() }

// Routes returns every prefix routed through the WireGuard link: the peers' allowed IPs
// and, for IPv4 ones, their ULA twins. The order follows the peers.
func (s *NRSpec) Routes() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s.Peers {
		out = append(out, s.PeerAllowed(p)...)
	}
	return out
}

// PeerAllowed returns p's allowed IPs plus the ULA twin of each IPv4 one.
func (s *NRSpec) PeerAllowed(p Peer) []netip.Prefix {
	out := make([]netip.Prefix, 0, 2*len(p.AllowedIPs))
	for _, a := range p.AllowedIPs {
		out = append(out, a)
		if a.Addr().Is4() {
			out = append(out, ula.Twin(s.NetworkID, a))
		}
	}
	return out
}

// Subnet6 returns the IPv6 ULA twin of the node's subnet (e.g. a /64 for a /24); the
// planner derives the same prefix from internal/ula, so both always agree.
func (s *NRSpec) Subnet6() netip.Prefix { return ula.Twin(s.NetworkID, s.Subnet) }
