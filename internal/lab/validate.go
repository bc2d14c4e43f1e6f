package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// MaxNodes bounds the nodes of one lab: 50 nodes use about 490 of the 1024 IPv6
// neighbour entries the kernel allows machine-wide by default.
const MaxNodes = 100

// MaxNameLen bounds lab, segment, router, host and node names so that derived link names
// ("r-<router>", "<node>-<i>") fit in 15 bytes.
const MaxNameLen = 12

func checkName(field, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s: missing", field)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%s: %q longer than %d bytes", field, name, MaxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%s: %q must be a lowercase letter followed by letters or digits", field, name)
	}
	return nil
}

// Validate checks the spec and fills in defaults. It is idempotent.
func (s *Spec) Validate() error {
	if len(s.Segments) == 0 {
		return errors.New("segments: at least one segment is needed")
	}
	segs := map[string]*Segment{}
	for i := range s.Segments {
		if err := s.Segments[i].validate(fmt.Sprintf("segments[%d]", i), segs); err != nil {
			return err
		}
	}
	names := map[string]string{}
	for i := range s.Routers {
		if err := s.Routers[i].validate(fmt.Sprintf("routers[%d]", i), true, segs, names); err != nil {
			return err
		}
	}
	for i := range s.Hosts {
		if err := s.Hosts[i].validate(fmt.Sprintf("hosts[%d]", i), false, segs, names); err != nil {
			return err
		}
	}
	for i := range s.Segments {
		if err := s.checkGateway(i); err != nil {
			return err
		}
	}
	if len(s.Nodes) > MaxNodes {
		return fmt.Errorf("nodes: %d nodes, at most %d (the kernel's neighbour table limits, net.ipv6.neigh.default.gc_thresh*, are shared by all namespaces)", len(s.Nodes), MaxNodes)
	}
	for i := range s.Nodes {
		if err := s.Nodes[i].validate(fmt.Sprintf("nodes[%d]", i), i, segs, names); err != nil {
			return err
		}
	}
	return nil
}

func (g *Segment) validate(f string, segs map[string]*Segment) error {
	if err := checkName(f+".name", g.Name); err != nil {
		return err
	}
	if segs[g.Name] != nil {
		return fmt.Errorf("%s.name: segment %q defined twice", f, g.Name)
	}
	segs[g.Name] = g
	if g.MTU == 0 {
		g.MTU = 1500
	}
	if g.MTU < 1280 || g.MTU > 9000 {
		return fmt.Errorf("%s.mtu: %d outside 1280..9000 (IPv6 needs at least 1280)", f, g.MTU)
	}
	if err := checkPrefix(f+".ipv4", g.IPv4, true); err != nil {
		return err
	}
	if err := checkPrefix(f+".ipv6", g.IPv6, false); err != nil {
		return err
	}
	if err := g.DHCP.validate(f+".dhcp", g); err != nil {
		return err
	}
	return g.RA.validate(f+".ra", g)
}

func checkPrefix(f, v string, v4 bool) error {
	if v == "" {
		return nil
	}
	p, err := netip.ParsePrefix(v)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %q is not a prefix: %w", f, v, err)
	case p != p.Masked():
		return fmt.Errorf("%s: %q has host bits set (use %s)", f, v, p.Masked())
	case v4 && !p.Addr().Is4():
		return fmt.Errorf("%s: %q is not IPv4", f, v)
	case !v4 && !p.Addr().Is6():
		return fmt.Errorf("%s: %q is not IPv6", f, v)
	case v4 && p.Bits() > 30:
		return fmt.Errorf("%s: %q is smaller than a /30", f, v)
	case !v4 && p.Bits() > 126:
		return fmt.Errorf("%s: %q is smaller than a /126", f, v)
	}
	return nil
}

func (d *DHCP) validate(f string, g *Segment) error {
	if d.Delay < 0 {
		return fmt.Errorf("%s.delay: negative", f)
	}
	if !d.Enabled {
		return nil
	}
	if d.Router == nil {
		t := true
		d.Router = &t
	}
	for i, a := range d.DNS {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
			return fmt.Errorf("%s.dns[%d]: %q is not an IPv4 address", f, i, a)
		}
	}
	if g.IPv4 == "" {
		return fmt.Errorf("%s.enabled: the segment has no ipv4 prefix to serve", f)
	}
	if g.Gateway == "" {
		return fmt.Errorf("%s.enabled: the segment has no gateway router to run the server", f)
	}
	if d.Range == "" {
		d.Range = defaultRange(netip.MustParsePrefix(g.IPv4))
	}
	if _, _, err := ParseRange(d.Range, g.IPv4); err != nil {
		return fmt.Errorf("%s.range: %w", f, err)
	}
	return nil
}

func defaultRange(p netip.Prefix) string {
	if p.Bits() == 24 {
		b := p.Addr().As4()
		return fmt.Sprintf("%d.%d.%d.100-%d.%d.%d.199", b[0], b[1], b[2], b[0], b[1], b[2])
	}
	half := netip.PrefixFrom(p.Addr(), p.Bits()+1)
	upper := lastAddr(half).Next()
	return fmt.Sprintf("%s/%d", upper, p.Bits()+1)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		hostBits := 8*(i+1) - p.Bits()
		switch {
		case hostBits >= 8:
			b[i] = 0xff
		case hostBits > 0:
			b[i] |= byte(1<<hostBits - 1)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ParseRange parses a DHCP range ("FIRST-LAST" or a CIDR, whose network and broadcast
// addresses are left out) and checks it lies inside the IPv4 prefix seg.
func ParseRange(r, seg string) (first, last netip.Addr, err error) {
	p, err := netip.ParsePrefix(seg)
	if err != nil {
		return first, last, fmt.Errorf("segment prefix %q: %w", seg, err)
	}
	if a, b, ok := strings.Cut(r, "-"); ok {
		if first, err = netip.ParseAddr(strings.TrimSpace(a)); err != nil {
			return first, last, fmt.Errorf("%q: first address: %w", r, err)
		}
		if last, err = netip.ParseAddr(strings.TrimSpace(b)); err != nil {
			return first, last, fmt.Errorf("%q: last address: %w", r, err)
		}
	} else {
		c, err := netip.ParsePrefix(r)
		if err != nil {
			return first, last, fmt.Errorf("%q: neither FIRST-LAST nor a CIDR", r)
		}
		if c.Bits() > 30 {
			return first, last, fmt.Errorf("%q: smaller than a /30", r)
		}
		first, last = c.Masked().Addr().Next(), lastAddr(c).Prev()
	}
	switch {
	case !first.Is4() || !last.Is4():
		return first, last, fmt.Errorf("%q: not IPv4", r)
	case last.Less(first):
		return first, last, fmt.Errorf("%q: last address before first", r)
	case !p.Contains(first) || !p.Contains(last):
		return first, last, fmt.Errorf("%q: not inside the segment's prefix %s", r, seg)
	}
	return first, last, nil
}

func (r *RA) validate(f string, g *Segment) error {
	if !r.Enabled {
		return nil
	}
	if g.Gateway == "" {
		return fmt.Errorf("%s.enabled: the segment has no gateway router to run radvd", f)
	}
	if r.Prefix == "" {
		r.Prefix = g.IPv6
	}
	if r.Prefix == "" {
		return fmt.Errorf("%s.prefix: missing and the segment has no ipv6 prefix", f)
	}
	if err := checkPrefix(f+".prefix", r.Prefix, false); err != nil {
		return err
	}
	if netip.MustParsePrefix(r.Prefix).Bits() != 64 {
		return fmt.Errorf("%s.prefix: %q must be a /64 for SLAAC", f, r.Prefix)
	}
	return nil
}

func (r *Router) validate(f string, router bool, segs map[string]*Segment, names map[string]string) error {
	if err := claimName(f, r.Name, names); err != nil {
		return err
	}
	if r.Forwarding == nil {
		r.Forwarding = &router
	}
	if len(r.Interfaces) == 0 {
		return fmt.Errorf("%s.interfaces: at least one interface is needed", f)
	}
	on := map[string]bool{}
	for i, it := range r.Interfaces {
		fi := fmt.Sprintf("%s.interfaces[%d]", f, i)
		g := segs[it.Segment]
		if g == nil {
			return fmt.Errorf("%s.segment: unknown segment %q", fi, it.Segment)
		}
		if on[it.Segment] {
			return fmt.Errorf("%s.segment: %q listed twice", fi, it.Segment)
		}
		on[it.Segment] = true
		if err := checkAddr(fi+".ipv4", it.IPv4, g.IPv4); err != nil {
			return err
		}
		if err := checkAddr(fi+".ipv6", it.IPv6, g.IPv6); err != nil {
			return err
		}
	}
	for i, rt := range r.Routes {
		if err := rt.validate(fmt.Sprintf("%s.routes[%d]", f, i)); err != nil {
			return err
		}
	}
	if err := r.NAT.validate(f+".nat", on); err != nil {
		return err
	}
	if err := r.NAT.validateHost(f+".nat", func(n string) *Segment { return segs[n] }); err != nil {
		return err
	}
	if r.NAT.Host != "" && r.Firewall.Inbound4 {
		return fmt.Errorf("%s.firewall.inbound4: would drop what nat mode %s lets in; leave it off", f, r.NAT.Mode)
	}
	if err := r.DNS.validate(f + ".dns"); err != nil {
		return err
	}
	return r.Firewall.validate(f+".firewall", on)
}

var dnsNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

func (d *DNSServer) validate(f string) error {
	if d == nil {
		return nil
	}
	if len(d.Records)+len(d.Wildcards) == 0 {
		return fmt.Errorf("%s.records: at least one record (or wildcard) is needed", f)
	}
	if err := validRecords(f+".records", d.Records); err != nil {
		return err
	}
	return validRecords(f+".wildcards", d.Wildcards)
}

func validRecords(f string, recs map[string][]string) error {
	for name, addrs := range recs {
		if !dnsNameRE.MatchString(name) || len(name) > 253 {
			return fmt.Errorf("%s: %q is not a dotted lowercase host name (e.g. registry.lab)", f, name)
		}
		if len(addrs) == 0 {
			return fmt.Errorf("%s[%s]: no address", f, name)
		}
		for _, a := range addrs {
			if _, err := netip.ParseAddr(a); err != nil {
				return fmt.Errorf("%s[%s]: %q is not an IP address", f, name, a)
			}
		}
	}
	return nil
}

func claimName(f, name string, names map[string]string) error {
	if err := checkName(f+".name", name); err != nil {
		return err
	}
	if prev, ok := names[name]; ok {
		return fmt.Errorf("%s.name: %q already used by %s", f, name, prev)
	}
	names[name] = f
	return nil
}

func checkAddr(f, v, seg string) error {
	if v == "" {
		return nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not ADDRESS/LENGTH: %w", f, v, err)
	}
	if seg == "" {
		return fmt.Errorf("%s: the segment has no prefix of this family", f)
	}
	sp := netip.MustParsePrefix(seg)
	if p.Bits() != sp.Bits() || !sp.Contains(p.Addr()) {
		return fmt.Errorf("%s: %q is not inside the segment's prefix %s", f, v, seg)
	}
	if p.Addr() == sp.Addr() || (p.Addr().Is4() && p.Addr() == lastAddr(sp)) {
		return fmt.Errorf("%s: %q is the network or broadcast address", f, v)
	}
	return nil
}

func (rt Route) validate(f string) error {
	via, err := netip.ParseAddr(rt.Via)
	if err != nil {
		return fmt.Errorf("%s.via: %q is not an address", f, rt.Via)
	}
	if rt.To == "default" {
		return nil
	}
	to, err := netip.ParsePrefix(rt.To)
	if err != nil || to != to.Masked() {
		return fmt.Errorf("%s.to: %q is not \"default\" or a prefix without host bits", f, rt.To)
	}
	if to.Addr().Is4() != via.Is4() {
		return fmt.Errorf("%s.via: %q is not of the same family as %s", f, rt.Via, rt.To)
	}
	return nil
}

func (n *NAT) validate(f string, on map[string]bool) error {
	switch n.Mode {
	case "":
		n.Mode = NATNone
		return nil
	case NATNone:
		return nil
	case NATMasquerade, NATFullyRandom, NATFullCone, NATAddressRestricted, NATOneToOne:
	default:
		return fmt.Errorf("%s.mode: %q is not one of none, masquerade, masquerade-fully-random, full-cone, address-restricted, one-to-one", f, n.Mode)
	}
	if n.UDPTimeout != 0 && (n.UDPTimeout < time.Second || n.UDPTimeout > time.Hour || n.UDPTimeout%time.Second != 0) {
		return fmt.Errorf("%s.udp_timeout: %s is not whole seconds between 1s and 1h", f, n.UDPTimeout)
	}
	if !on[n.Out] {
		return fmt.Errorf("%s.out: %q is not a segment of this router", f, n.Out)
	}
	if len(n.Segments) == 0 {
		return fmt.Errorf("%s.segments: list the segments whose IPv4 is masqueraded", f)
	}
	for i, s := range n.Segments {
		if !on[s] || s == n.Out {
			return fmt.Errorf("%s.segments[%d]: %q is not an inside segment of this router", f, i, s)
		}
	}
	return nil
}

// validateHost checks NAT.Host: required (inside one of the NAT's segments) for the
// modes that forward to one host, refused for the others.
func (n *NAT) validateHost(f string, seg func(string) *Segment) error {
	needs := n.Mode == NATFullCone || n.Mode == NATAddressRestricted || n.Mode == NATOneToOne
	if !needs {
		if n.Host != "" {
			return fmt.Errorf("%s.host: only full-cone, address-restricted and one-to-one forward to a host", f)
		}
		return nil
	}
	a, err := netip.ParseAddr(n.Host)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%s.host: %q is not an IPv4 address (mode %s forwards to one inside host)", f, n.Host, n.Mode)
	}
	for _, name := range n.Segments {
		if p, err := netip.ParsePrefix(seg(name).IPv4); err == nil && p.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%s.host: %s is in none of the NAT's inside segments %v", f, a, n.Segments)
}

func (fw *Firewall) validate(f string, on map[string]bool) error {
	if (fw.Inbound4 || fw.Inbound6) && !on[fw.Out] {
		return fmt.Errorf("%s.out: %q is not a segment of this router", f, fw.Out)
	}
	return nil
}

func (s *Spec) checkGateway(i int) error {
	g := &s.Segments[i]
	if g.Gateway == "" {
		return nil
	}
	f := fmt.Sprintf("segments[%d].gateway", i)
	r := s.router(g.Gateway)
	if r == nil {
		return fmt.Errorf("%s: no router named %q", f, g.Gateway)
	}
	it := r.iface(g.Name)
	if it == nil {
		return fmt.Errorf("%s: router %q has no interface on segment %q", f, g.Gateway, g.Name)
	}
	if g.DHCP.Enabled && it.IPv4 == "" {
		return fmt.Errorf("%s: router %q has no IPv4 address on %q to serve DHCP from", f, g.Gateway, g.Name)
	}
	if g.RA.Enabled && !*r.Forwarding {
		return fmt.Errorf("%s: router %q sends RAs but has forwarding off (radvd would announce lifetime 0)", f, g.Gateway)
	}
	return nil
}

func (n *Node) validate(f string, idx int, segs map[string]*Segment, names map[string]string) error {
	if err := claimName(f, n.Name, names); err != nil {
		return err
	}
	if len(n.NICs) > 10 {
		return fmt.Errorf("%s.nics: %d NICs, at most 10", f, len(n.NICs))
	}
	if strings.ContainsAny(n.Cmdline, "\n\x00") {
		return fmt.Errorf("%s.cmdline: must be one line", f)
	}
	for i, b := range n.Boot {
		if !nameRE.MatchString(b) {
			return fmt.Errorf("%s.boot[%d]: %q is not a service binary name", f, i, b)
		}
	}
	seen := map[string]bool{}
	for i := range n.NICs {
		if err := n.NICs[i].validate(fmt.Sprintf("%s.nics[%d]", f, i), idx, i, segs, seen); err != nil {
			return err
		}
	}
	return n.validateKind(f, segs) // vmspec.go
}

func (c *NIC) validate(f string, node, i int, segs map[string]*Segment, seen map[string]bool) error {
	if segs[c.Segment] == nil {
		return fmt.Errorf("%s.segment: unknown segment %q", f, c.Segment)
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("eth%d", i)
	}
	if len(c.Name) > 15 || c.Name == "lo" || strings.ContainsAny(c.Name, "/ :\x00") {
		return fmt.Errorf("%s.name: %q is not a usable link name", f, c.Name)
	}
	if seen[c.Name] {
		return fmt.Errorf("%s.name: %q used twice", f, c.Name)
	}
	seen[c.Name] = true
	if c.MAC == "" {
		c.MAC = fmt.Sprintf("02:5a:4c:%02x:%02x:%02x", (node+1)>>8, (node+1)&0xff, i)
	}
	hw, err := net.ParseMAC(c.MAC)
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("%s.mac: %q is not a MAC address", f, c.MAC)
	}
	if hw[0]&1 == 1 {
		return fmt.Errorf("%s.mac: %q is a multicast address", f, c.MAC)
	}
	c.MAC = hw.String()
	if c.Carrier == nil {
		t := true
		c.Carrier = &t
	}
	return nil
}

func (s *Spec) router(name string) *Router {
	for i := range s.Routers {
		if s.Routers[i].Name == name {
			return &s.Routers[i]
		}
	}
	for i := range s.Hosts {
		if s.Hosts[i].Name == name {
			return &s.Hosts[i]
		}
	}
	return nil
}

func (s *Spec) segment(name string) *Segment {
	for i := range s.Segments {
		if s.Segments[i].Name == name {
			return &s.Segments[i]
		}
	}
	return nil
}

func (s *Spec) node(name string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

func (r *Router) iface(seg string) *Interface {
	for i := range r.Interfaces {
		if r.Interfaces[i].Segment == seg {
			return &r.Interfaces[i]
		}
	}
	return nil
}
