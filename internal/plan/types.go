// Package plan is the mesh planner: a pure, deterministic function from a network's facts
// (range, members with their keys, ports, endpoint candidates, hidden flags and LAN facts,
// external access devices) to every member's WireGuard peers, allowed IPs, endpoints,
// keepalives, routes and relays. It does no I/O, reads no clock and uses no randomness:
// the same facts, in any order, give the same plan.
//
// The rules (DESIGN.md "Networks"):
//   - a member is public when it is not marked hidden and has an endpoint candidate that
//     is reachable from outside; every other member is hidden;
//   - public members form a full mesh; per pair one address family is used (a peer is
//     reached over one family only), IPv6 when both can use global IPv6;
//   - hidden members peer only with public members (keepalive [Keepalive] seconds), and
//     directly with hidden members behind the same NAT/LAN (same registry-observed public
//     source address and a shared private prefix), over their LAN addresses (the one
//     with the lower node id dials, so their first handshakes never cross);
//   - every other pair (two hidden members on different LANs, or two public members
//     without a common family) is relayed. The relay candidates are the public members
//     that peer directly with every relayed member. Each relayed member gets two home
//     relays among them, a primary and a second for failover, by weighted rendezvous
//     hashing with bounded load (so each candidate is the primary of floor or ceil of its
//     share of the relayed members, its share following [Member.RelayWeight]); a relayed
//     pair goes through the home relays of its owner, one of its two ends chosen by a hash
//     of the pair, so both ends agree (WireGuard accepts a packet only from the entry
//     whose allowed IPs hold its source). On a member, the destinations that share
//     relays form a [RelayGroup]: its allowed IPs sit on the entry of its current relay,
//     and each group fails over to its second relay on its own (see [Failover]);
//   - an external access device peers with one public access node, which routes for it.
//
// Every subnet has an IPv6 ULA twin (ula.Twin). Members without a subnet get one
// assigned deterministically ([Planner.Member] reports it; callers persist it).
//
// The registry's view of a network becomes the planner's input with [FromGrid], the one
// conversion (provisiond and the CLI). Use (provisiond, on every change of the network's
// facts and on resync):
//
//	input, err := plan.FromGrid(desired, self)
//	p, err := plan.New(input)            // validate + prepare, O(n log n)
//	view, err := p.Member(myNodeID)      // this node's peers, routes, relays
//	peers := plan.WithRelay(view, current) // current[k]: group k's relay (Failover.Next)
//	changes := plan.Reconcile(current, peers) // current: the link's peers from wgctrl
//
// then apply changes (remove, then update and add with replace-allowed-IPs) and route
// view.Routes into the WireGuard link. Every ~10 s, feed each relay group's relays'
// latest handshake times to [Failover.Next] and re-apply when a group's relay changes. The CLI builds
// `network status` with [StatusOf] (pairs from [Pairs]) and device files with package
// wgquick.
//
// Errors: invalid input wraps [ErrInvalid]; a valid but impossible network wraps
// [ErrImpossible] and says what to add. All types are plain data, safe to share once built.
package plan

import "net/netip"

// Keepalive is the persistent keepalive, in seconds, that a member behind NAT or a
// firewall (and an access device) sends on each peer it initiates towards (20–25 s keeps
// common NAT and firewall state alive).
const Keepalive = 25

// DefaultSubnetBits is the per-member subnet prefix length when Network.SubnetBits is 0.
const DefaultSubnetBits = 24

// Family is an IP address family.
type Family string

// The two address families.
const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// Input is everything the planner needs about one network.
type Input struct {
	Network Network      `json:"network"`
	Members []Member     `json:"members"`
	Access  []AccessPeer `json:"access,omitempty"`
	// HomesFor is the number of members the members' Homes were computed for (by the
	// registry, once per network revision, with [Planner.Homes]); 0 means none were.
	// When it equals len(Members), the planner takes the home relays from Homes
	// instead of assigning them (the one part of a member's view that needs the whole
	// network); otherwise it ignores Homes and assigns them itself. See [Planner].
	HomesFor int `json:"homes_for,omitempty"`
}

// Network describes the network itself.
type Network struct {
	// ID is the stable network id, [a-z0-9]{1,11} (kernel link names derive from it).
	ID string `json:"id"`
	// Range is the network's IPv4 range, at least a /8 and at most a /30, e.g. 10.1.0.0/16.
	Range netip.Prefix `json:"range"`
	// SubnetBits is the prefix length of each member's subnet; 0 means DefaultSubnetBits.
	SubnetBits int `json:"subnet_bits,omitempty"`
}

// Member is one node taking part in the network, as reported to the registry.
type Member struct {
	// NodeID is the node's grid id; it orders members and names them in plans.
	NodeID string `json:"node_id"`
	// Name is a human name for messages; empty means NodeID.
	Name string `json:"name,omitempty"`
	// Subnet is the member's IPv4 subnet inside the range; the zero value lets the planner
	// assign one deterministically.
	Subnet netip.Prefix `json:"subnet,omitzero"`
	// PublicKey is the member's WireGuard public key (base64, 32 bytes).
	PublicKey string `json:"public_key"`
	// ListenPort is the member's WireGuard UDP port, 1–65535.
	ListenPort int `json:"listen_port"`
	// Endpoints are the node's address candidates. Order does not matter.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Hidden forces the member to be treated as hidden even with reachable endpoints.
	Hidden bool `json:"hidden,omitempty"`
	// LAN holds what the registry knows about the member's local network.
	LAN LAN `json:"lan,omitzero"`
	// RelayWeight is how much relayed traffic the member offers to carry compared with
	// the other public members (the node's reported relay_weight), 0–MaxRelayWeight;
	// 0 means 1, so by default every candidate carries an equal share.
	RelayWeight int `json:"relay_weight,omitempty"`
	// Homes are the member's home relays (node ids, primary first, then the second),
	// as [Planner.Homes] computed them for the same members; empty when the member is
	// not relayed. Used only when Input.HomesFor says they match the input.
	Homes []string `json:"homes,omitempty"`
}

// Endpoint is one address a node can be reached at or send from.
type Endpoint struct {
	// Addr is the address (no port: the member's ListenPort is used).
	Addr netip.Addr `json:"addr"`
	// Family must match Addr; empty means the family of Addr.
	Family Family `json:"family,omitempty"`
	// Reachable says connections initiated from the Internet reach the node at Addr
	// (a public IPv4, or a global IPv6 without an inbound firewall).
	Reachable bool `json:"reachable,omitempty"`
}

// LAN is what the registry observed about a member's local network.
type LAN struct {
	// PublicSource is the source address the registry saw the node's requests come from
	// (its NAT's public address for a node behind NAT). Zero means unknown.
	PublicSource netip.Addr `json:"public_source,omitzero"`
	// Addresses are the node's private LAN addresses with their prefix length,
	// e.g. 192.168.1.10/24.
	Addresses []netip.Prefix `json:"addresses,omitempty"`
	// Router optionally identifies the LAN's router (e.g. the MAC address of the default
	// gateway). Behind a carrier-grade NAT, homes share a public source address and often
	// a private prefix; when both members report a Router, it must match too.
	Router string `json:"router,omitempty"`
}

// AccessPeer is a user's own device joining the network through a public access node.
type AccessPeer struct {
	// Name names the device, [a-zA-Z0-9._-]{1,32}.
	Name string `json:"name"`
	// PublicKey is the device's WireGuard public key (the device keeps its private key).
	PublicKey string `json:"public_key"`
	// Address is the device's IPv4 address inside the range, outside every member subnet.
	Address netip.Addr `json:"address"`
	// Via optionally pins the access node (a public member's node id).
	Via string `json:"via,omitempty"`
	// Family optionally says which family the device can use to reach the access node;
	// empty means either (IPv4 is tried first: most user devices have it).
	Family Family `json:"family,omitempty"`
}

// Path says how traffic between two members travels.
type Path string

// The paths between two members.
const (
	PathDirect  Path = "direct"   // peers of each other over their public endpoints
	PathSameLAN Path = "same-lan" // peers of each other over their LAN addresses
	PathRelayed Path = "relayed"  // through the current relay of the pair's relay group
	PathAccess  Path = "access"   // an access device's entry on its access node
	// PathPunched: two hidden members behind different NATs that punched a direct UDP
	// path (provisiond adds these entries on top of the plan; status shows them).
	PathPunched Path = "punched"
)

// Plan is the whole network's plan.
type Plan struct {
	NetworkID string `json:"network_id"`
	// Range and ULA are the network's IPv4 range and its IPv6 ULA twin.
	Range netip.Prefix `json:"range"`
	ULA   netip.Prefix `json:"ula"`
	// Relays are the node ids of the members that are a home relay (primary or second)
	// of some member, sorted; empty when no pair needs relaying.
	Relays  []string     `json:"relays,omitempty"`
	Members []MemberPlan `json:"members"`
	Devices []DevicePlan `json:"devices,omitempty"`
}

// MemberPlan is one member's view: what its network resource must configure.
type MemberPlan struct {
	NodeID string `json:"node_id"`
	Name   string `json:"name"`
	// Hidden is the effective classification (see the package doc).
	Hidden bool `json:"hidden"`
	// Subnet is the member's IPv4 subnet (assigned when the input had none) and ULA its
	// IPv6 twin.
	Subnet     netip.Prefix `json:"subnet"`
	ULA        netip.Prefix `json:"ula"`
	ListenPort int          `json:"listen_port"`
	// Peers are the WireGuard peers, sorted by node id then device name.
	Peers []Peer `json:"peers"`
	// Routes are the prefixes to route into the WireGuard link (the range and its twin;
	// the member's own subnet is more specific and stays on its bridge).
	Routes []netip.Prefix `json:"routes"`
	// Relays are the member's home relays, primary first, then the second; they carry
	// the relayed pairs the member owns. Empty when every other member is a direct peer.
	Relays []string `json:"relays,omitempty"`
	// RelayGroups are the member's relayed destinations by the relays they go through,
	// sorted by relays; Peers has each group's allowed IPs on its primary relay's entry.
	// Empty when Relays is.
	RelayGroups []RelayGroup `json:"relay_groups,omitempty"`
}

// Peer is one WireGuard peer entry.
type Peer struct {
	// NodeID is the peer member's node id; empty for an access device.
	NodeID string `json:"node_id,omitempty"`
	// Name is the member's or the device's name.
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
	// Endpoint is where to send the first packet; zero when the peer cannot be reached
	// (it initiates instead).
	Endpoint netip.AddrPort `json:"endpoint,omitzero"`
	// AllowedIPs are sorted and never overlap with another entry's on the same interface.
	AllowedIPs []netip.Prefix `json:"allowed_ips"`
	// Keepalive is the persistent keepalive in seconds, 0 for none.
	Keepalive int `json:"keepalive,omitempty"`
	// Path is how this entry is used: direct, same-lan, or access.
	Path Path `json:"path"`
}

// DevicePlan is an external access device's view: its single peer, the access node.
type DevicePlan struct {
	Name    string     `json:"name"`
	Address netip.Addr `json:"address"`
	// Address6 is the device's IPv6 ULA address: the ULA twin of Address, which the
	// members route to the access node like Address.
	Address6 netip.Addr `json:"address6"`
	// AccessNode is the node id of the public member it peers with.
	AccessNode string `json:"access_node"`
	// Peer is the access node's entry on the device: the whole range and its ULA twin.
	Peer Peer `json:"peer"`
}
