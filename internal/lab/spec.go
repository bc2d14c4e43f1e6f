package lab

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Spec describes a whole lab: L2 segments, routers and hosts (plain network namespaces)
// and nodes (holder processes with private mounts). It is read from YAML with LoadSpec or
// ParseSpec, or is the default farm (DefaultSpec). A Spec returned by them is valid and
// has every default filled in; treat it as read-only once a lab runs on it.
type Spec struct {
	Segments []Segment `yaml:"segments" json:"segments"`
	Routers  []Router  `yaml:"routers" json:"routers"`
	Hosts    []Router  `yaml:"hosts" json:"hosts"`
	Nodes    []Node    `yaml:"nodes" json:"nodes"`
}

// Segment is an L2 segment: a bridge in its own switch namespace.
type Segment struct {
	Name string `yaml:"name" json:"name"`
	// MTU of the bridge and of every link on the segment (default 1500).
	MTU int `yaml:"mtu" json:"mtu"`
	// IPv4 and IPv6 are the segment's prefixes (either may be empty).
	IPv4 string `yaml:"ipv4" json:"ipv4,omitempty"`
	IPv6 string `yaml:"ipv6" json:"ipv6,omitempty"`
	// Gateway names the router that serves DHCP and RA on the segment; its address on
	// the segment is the DHCP router option. Required when DHCP or RA is enabled.
	Gateway string `yaml:"gateway" json:"gateway,omitempty"`
	DHCP    DHCP   `yaml:"dhcp" json:"dhcp"`
	RA      RA     `yaml:"ra" json:"ra"`
}

// DHCP configures the segment's dnsmasq.
type DHCP struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Router: send the gateway as DHCP router option (default true).
	Router *bool `yaml:"router" json:"router,omitempty"`
	// Range is "FIRST-LAST" or a CIDR inside the segment's IPv4 prefix (default: .100-.199
	// of a /24, else the second half of the prefix).
	Range string `yaml:"range" json:"range,omitempty"`
	// Delay starts the server this long after the lab is up (a late-starting server).
	Delay time.Duration `yaml:"delay" json:"delay,omitempty"`
	// Ping turns on dnsmasq's address probe (off by default): each offer then waits 3 s,
	// as with many farmers' default dnsmasq.
	Ping bool `yaml:"ping" json:"ping,omitempty"`
	// DNS are the name servers (IPv4 addresses) handed out (DHCP option 6); none when
	// empty.
	DNS []string `yaml:"dns" json:"dns,omitempty"`
}

// DNSServer makes a router or host a DNS server (dnsmasq on port 53 of its addresses)
// that answers Records and Wildcards and nothing else (no recursion).
type DNSServer struct {
	// Records maps a name (e.g. registry.lab) to its addresses (A and AAAA).
	Records map[string][]string `yaml:"records" json:"records"`
	// Wildcards maps a domain to the addresses of every name under it (and of the
	// domain itself): a farmer's gateway domains.
	Wildcards map[string][]string `yaml:"wildcards" json:"wildcards,omitempty"`
}

// RA configures the segment's radvd.
type RA struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Prefix announced for SLAAC (default: the segment's IPv6 prefix, must be a /64).
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
}

// Router is a router or (in Spec.Hosts) a host: a named network namespace with one
// interface per segment it is on.
type Router struct {
	Name       string      `yaml:"name" json:"name"`
	Interfaces []Interface `yaml:"interfaces" json:"interfaces"`
	Routes     []Route     `yaml:"routes" json:"routes,omitempty"`
	// Forwarding enables IPv4/IPv6 forwarding (default true for routers, false for hosts).
	Forwarding *bool    `yaml:"forwarding" json:"forwarding,omitempty"`
	NAT        NAT      `yaml:"nat" json:"nat"`
	Firewall   Firewall `yaml:"firewall" json:"firewall"`
	// DNS, when set, runs a DNS server here (see DNSServer).
	DNS *DNSServer `yaml:"dns" json:"dns,omitempty"`
}

// Interface attaches a router or host to a segment. The link is named after the segment.
type Interface struct {
	Segment string `yaml:"segment" json:"segment"`
	IPv4    string `yaml:"ipv4" json:"ipv4,omitempty"` // address/len inside the segment's prefix
	IPv6    string `yaml:"ipv6" json:"ipv6,omitempty"`
}

// Route is a static route; To is a prefix or "default", Via an address on a segment.
type Route struct {
	To  string `yaml:"to" json:"to"`
	Via string `yaml:"via" json:"via"`
}

// NAT modes (nat.Type names the behaviour each gives: NAT.Type).
const (
	NATNone = "none"
	// NATMasquerade keeps source ports: endpoint-independent mapping, address-and-port
	// dependent filtering (conntrack) — the "easy" NAT.
	NATMasquerade = "masquerade"
	// NATFullyRandom picks a new port per destination: symmetric, the "hard" NAT.
	NATFullyRandom = "masquerade-fully-random"
	// NATFullCone masquerades and lets any outside sender in to a UDP port Host has sent
	// from (a dynamic set of ports): endpoint-independent mapping and filtering.
	NATFullCone = "full-cone"
	// NATAddressRestricted masquerades and lets in UDP to a port Host has sent from when
	// it comes from an address Host has sent to (dynamic sets): address-dependent
	// filtering.
	NATAddressRestricted = "address-restricted"
	// NATOneToOne maps the router's Out address to Host whole (dnat and snat).
	NATOneToOne = "one-to-one"
)

// NAT translates IPv4 from the listed segments out of the Out segment's interface, in
// one of the modes above. Two routers with NAT in series make a carrier-grade NAT.
type NAT struct {
	Mode     string   `yaml:"mode" json:"mode"`
	Out      string   `yaml:"out" json:"out,omitempty"`
	Segments []string `yaml:"segments" json:"segments,omitempty"`
	// Host is the one inside IPv4 address that full-cone, address-restricted and
	// one-to-one forward to (give its segment a one-address DHCP range).
	Host string `yaml:"host" json:"host,omitempty"`
	// UDPTimeout, when set, is the router's UDP conntrack timeout (both unreplied and
	// stream), and how long a full-cone or address-restricted port stays open: NAT
	// mappings then expire as fast as on a stingy home router (keepalive tests).
	UDPTimeout time.Duration `yaml:"udp_timeout" json:"udp_timeout,omitempty"`
}

// Firewall drops new connections coming in from the Out segment towards the router's
// other segments (stateful: replies to outgoing connections pass), per address family.
type Firewall struct {
	Out      string `yaml:"out" json:"out,omitempty"`
	Inbound4 bool   `yaml:"inbound4" json:"inbound4"`
	Inbound6 bool   `yaml:"inbound6" json:"inbound6"`
}

// Node is a simulated 0-OS machine.
type Node struct {
	Name string `yaml:"name" json:"name"`
	NICs []NIC  `yaml:"nics" json:"nics"`
	// Cmdline is what the node's processes read from /proc/cmdline.
	Cmdline string `yaml:"cmdline" json:"cmdline"`
	// Boot lists the services started at boot, in order (see boot_linux.go). A vm node
	// runs the image's services instead (its init reads zosnet.services= from Cmdline).
	Boot []string `yaml:"boot" json:"boot,omitempty"`
	// Kind is "netns" (default: a holder process in namespaces) or "vm" (a qemu guest
	// booting the node image; see vmspec.go).
	Kind string `yaml:"kind" json:"kind,omitempty"`
	// VM configures a vm node (defaults filled in by Validate).
	VM *VM `yaml:"vm" json:"vm,omitempty"`
}

// NIC is one network card of a node: a veth whose other end is a port of the segment.
type NIC struct {
	Segment string `yaml:"segment" json:"segment"`
	Name    string `yaml:"name" json:"name"` // default eth<i>
	MAC     string `yaml:"mac" json:"mac"`   // default 02:5a:4c:<node index, 2 bytes>:<nic index>
	// Carrier false leaves the switch port down: the NIC sees no carrier.
	Carrier *bool `yaml:"carrier" json:"carrier,omitempty"`
}

// LoadSpec reads and validates a YAML spec file.
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lab spec: %w", err)
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("lab spec %s: %w", path, err)
	}
	return s, nil
}

// ParseSpec parses and validates a YAML spec, filling in defaults. Unknown fields are
// errors; every error names the field path and the reason.
func ParseSpec(b []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}
