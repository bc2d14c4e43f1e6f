// Package gridapi is the registry's HTTP/JSON API (version 1): the types shared by the
// registry server and its clients, their validation, and a typed client that signs
// every write.
//
// # Contract
//
// Reads are public; every write is signed by an identity (package identity) and allowed
// only to its owner: a farm's owner edits the farm and sets its nodes' public configs; a
// node (its own key) registers, reports facts, heartbeats and reports its network
// resources; a network's owner (the key that created it) updates and deletes it.
//
//   - Farms: POST /v1/farms, GET /v1/farms, GET /v1/farms/{id|name}.
//   - Nodes: POST /v1/nodes (register, idempotent per node key), GET /v1/nodes[?farm=ID],
//     GET /v1/nodes/{id|name}, PUT /v1/nodes/{id}/facts, POST /v1/nodes/{id}/heartbeat,
//     PUT|DELETE /v1/nodes/{id}/public-config (farmer).
//   - Node facts (reported by the node): NICs (name, MAC, addresses with prefixes,
//     routes), endpoint candidates (ip, family, reason), hidden flag, WireGuard ports in
//     use, version; plus the registry-observed source address of the node's requests
//     (Node.SourceAddr: nodes behind one NAT/LAN share it).
//   - Networks: POST /v1/networks, GET /v1/networks[?owner=KEY],
//     GET|PUT|DELETE /v1/networks/{id}, GET /v1/networks/{id}/status (the network with
//     every member's facts and network-resource report). The registry assigns the id ([a-z0-9]{1,11},
//     stable; it becomes the node's n-<id> namespace), each member's subnet (the lowest
//     free subnet of SubnetSize in IPRange, kept across updates), and each access peer's
//     address (a /32 from the last subnet of the range, which no member gets). A PUT
//     carrying Revision fails with 409 when the network changed since (no lost updates).
//   - Exposures (package doc of exposure.go): POST /v1/exposures (the owner of the
//     network), GET /v1/exposures[?owner=KEY][&gateway=NODE], GET|DELETE
//     /v1/exposures/{id} (delete: the owner). Names are unique per gateway domain,
//     ports per gateway and protocol; a removed exposure frees both at once.
//   - Network-resource reports: PUT /v1/nodes/{id}/networks/{netid}/report (the node):
//     WireGuard public key, listen port, endpoints, state, last error.
//   - Workloads: POST /v1/networks/{id}/workloads (the network's owner),
//     GET /v1/networks/{id}/workloads[/{name}], DELETE /v1/networks/{id}/workloads/{name}
//     (owner); the node reports each with PUT /v1/nodes/{id}/workloads/{netid}/{name}/report
//     (addresses, MAC, state, error). A workload runs on a member node; a member that
//     runs workloads cannot leave the network (409) until they are removed.
//   - Public IPv4 pools: POST|GET /v1/farms/{farm}/public-ips, DELETE
//     /v1/farms/{farm}/public-ips/{ip} (the farm's owner; an address in use cannot be
//     removed). A workload with public_ipv4 takes a free address of its node's farm in
//     the same transaction (concurrent requests: exactly one gets the last address).
//   - Watch: GET /v1/nodes/{id}/desired?revision=N[&timeout=30s] long-polls: it answers
//     as soon as what the node must run has a revision > N, or after the timeout with
//     the current state (same revision). What the node must run (Desired) is its public
//     config plus its network memberships, each with every member's subnet, reported
//     facts and network-resource report, so the node plans its peers locally
//     (package plan), and the node's workloads.
//
// Errors are JSON {"error": "...", "field": "..."} with 4xx/5xx status codes.
package gridapi

import (
	"time"
)

// Farm is a farmer's farm.
type Farm struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Owner   string    `json:"owner"` // key id of the farmer
	Created time.Time `json:"created"`
	// EgressAllow is the farmer's egress allow list for every node of the farm:
	// "prefix[:port/proto]" entries workloads may reach although they are on a node's
	// LAN (a local mirror, a NAS). Empty: workloads reach the Internet only.
	EgressAllow []string `json:"egress_allow"`
}

// FarmEgressAllow is the body of PUT /v1/farms/{farm}/egress-allow.
type FarmEgressAllow struct {
	// Allow replaces the farm's list (empty: none).
	Allow []string `json:"allow"`
}

// FarmCreate is the body of POST /v1/farms.
type FarmCreate struct {
	Name string `json:"name"`
}

// Node is a registered node as the registry knows it.
type Node struct {
	ID           int64         `json:"id"`
	Name         string        `json:"name"`
	FarmID       int64         `json:"farm_id"`
	Key          string        `json:"key"` // the node's key id
	Registered   time.Time     `json:"registered"`
	LastSeen     time.Time     `json:"last_seen"`
	Online       bool          `json:"online"`      // seen within OnlineWindow
	SourceAddr   string        `json:"source_addr"` // as observed by the registry
	Facts        NodeFacts     `json:"facts"`
	PublicConfig *PublicConfig `json:"public_config,omitempty"`
}

// OnlineWindow is how recently a node must have been seen to count as online.
const OnlineWindow = 2 * time.Minute

// NodeRegister is the body of POST /v1/nodes, signed with the node's key.
type NodeRegister struct {
	FarmID  int64  `json:"farm_id"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// NodeFacts is what a node reports about itself (PUT /v1/nodes/{id}/facts).
type NodeFacts struct {
	NICs      []NIC      `json:"nics"`
	Endpoints []Endpoint `json:"endpoints"` // candidate WireGuard endpoints
	Hidden    bool       `json:"hidden"`    // no endpoint reachable from outside
	WGPorts   []int      `json:"wg_ports"`  // WireGuard listen ports in use
	Version   string     `json:"version"`
	// RelayWeight is the share of relayed traffic the node offers to carry compared with
	// the other public members (zosnet.relay_weight=), 0–MaxRelayWeight; 0 counts as 1.
	RelayWeight int `json:"relay_weight,omitempty"`
}

// NIC is one network interface of a node.
type NIC struct {
	Name   string   `json:"name"`
	Kind   string   `json:"kind,omitempty"` // netlink link type: device, bridge, veth, ...
	MAC    string   `json:"mac"`
	Up     bool     `json:"up"`
	Addrs  []string `json:"addrs"` // CIDR, e.g. 192.168.1.5/24
	Routes []Route  `json:"routes"`
}

// Route is a route through a NIC.
type Route struct {
	Dst string `json:"dst"`           // CIDR; "default" routes are 0.0.0.0/0 or ::/0
	Gw  string `json:"gw,omitempty"`  // gateway address, if any
	Src string `json:"src,omitempty"` // preferred source, if any
}

// Endpoint is a candidate address peers may reach the node's WireGuard sockets at.
type Endpoint struct {
	IP     string `json:"ip"`
	Family int    `json:"family"` // 4 or 6
	Reason string `json:"reason"` // why it is a candidate, e.g. "global-ipv6", "public-ipv4", "public-config"
}

// PublicConfig is the farmer-set public side of a node: static addresses and gateways
// on the public NIC (PUT /v1/nodes/{id}/public-config).
type PublicConfig struct {
	NIC    string `json:"nic,omitempty"`  // public NIC; empty means the node picks
	IPv4   string `json:"ipv4,omitempty"` // CIDR
	GW4    string `json:"gw4,omitempty"`
	IPv6   string `json:"ipv6,omitempty"` // CIDR
	GW6    string `json:"gw6,omitempty"`
	Domain string `json:"domain,omitempty"`
}

// Network is a user's WireGuard mesh.
type Network struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Owner       string       `json:"owner"`       // key id
	IPRange     string       `json:"ip_range"`    // IPv4 CIDR
	SubnetSize  int          `json:"subnet_size"` // prefix length of each member's subnet
	Members     []Member     `json:"members"`
	AccessPeers []AccessPeer `json:"access_peers"`
	Revision    int64        `json:"revision"`
	Created     time.Time    `json:"created"`
}

// Member is a node in a network with the subnet the registry assigned it.
type Member struct {
	NodeID int64  `json:"node_id"`
	Subnet string `json:"subnet"`
	// Gateway is set for a node that joined only to serve the network's exposures (no
	// workloads): the registry adds it with the first exposure on it and removes it
	// with the last. The owner does not list it in NetworkSpec.Members.
	Gateway bool `json:"gateway,omitempty"`
}

// AccessPeer is an external device (a user's laptop) in a network.
type AccessPeer struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"` // WireGuard public key, base64
	Address   string `json:"address"`    // assigned by the registry, CIDR /32
}

// NetworkSpec is the body of POST /v1/networks and PUT /v1/networks/{id}.
// On PUT, Revision (when non-zero) must equal the network's current revision.
type NetworkSpec struct {
	Name        string           `json:"name"`
	IPRange     string           `json:"ip_range"`
	SubnetSize  int              `json:"subnet_size,omitempty"` // default 24
	Members     []int64          `json:"members"`
	AccessPeers []AccessPeerSpec `json:"access_peers,omitempty"`
	Revision    int64            `json:"revision,omitempty"`
}

// AccessPeerSpec asks for an access peer.
type AccessPeerSpec struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// NRReport is what a node reports about its network resource for one network.
type NRReport struct {
	PublicKey  string    `json:"public_key"` // WireGuard, base64
	ListenPort int       `json:"listen_port"`
	Endpoints  []string  `json:"endpoints"` // host:port
	State      string    `json:"state"`     // one of NRStates
	LastError  string    `json:"last_error,omitempty"`
	Updated    time.Time `json:"updated"` // set by the registry
	// Relay is the node id of the relay that currently carries the relayed pairs this
	// node owns (its home relay group; "" when it needs none or uses the primary).
	Relay string `json:"relay,omitempty"`
	// RelayGroups are the node's relay groups that left their primary relay (failover),
	// so `network status` can show each relayed pair's relay; empty when none did.
	RelayGroups []RelayGroupUse `json:"relay_groups,omitempty"`
	// Seen says, per other member, when a probe sent over the overlay from this node's
	// subnet to the member's got its last answer (packets really crossed).
	Seen []PeerSeen `json:"seen,omitempty"`
	// Peers are the members this network resource has as WireGuard peers now (node
	// ids, sorted). A member that alone can start the handshake with a peer (it has the
	// peer's endpoint, the peer has none for it) adds that peer once the peer lists it
	// here: a first handshake the peer cannot accept yet is retried only after 5 s.
	Peers []int64 `json:"peers,omitempty"`
	// Observed are, on a public member, the endpoints its hidden peers' packets arrive
	// from (WireGuard's roaming endpoint) with a handshake at most ObservedFresh old:
	// what the hidden members punch towards (issue 14). Sorted by node id.
	Observed []ObservedEndpoint `json:"observed,omitempty"`
	// NAT is, on a hidden member, its NR socket as the public members see it (its
	// mapped endpoints and whether the mapping is endpoint-independent).
	NAT *NATSeen `json:"nat,omitempty"`
	// Punch is, on a hidden member, the direct-path state of each other hidden member
	// it is relayed to (trying, punched, held, gave-up), sorted by node id.
	Punch []PunchState `json:"punch,omitempty"`
}

// ObservedFresh is how recent a public member's handshake with a hidden peer must be
// for the peer's endpoint to be reported as observed (WireGuard re-handshakes every
// 2 minutes while keepalives flow).
const ObservedFresh = 3 * time.Minute

// ObservedEndpoint is one hidden peer's NR socket as a public member sees it.
type ObservedEndpoint struct {
	NodeID    int64     `json:"node_id"`
	Endpoint  string    `json:"endpoint"` // ip:port the peer's packets come from
	Handshake time.Time `json:"handshake"`
}

// NATSeen is a hidden member's NR socket as the public members see it.
type NATSeen struct {
	Endpoints []string `json:"endpoints"` // distinct mapped ip:port, sorted
	Observers int      `json:"observers"` // public members at distinct addresses that saw it
	// Mapping is "endpoint-independent" (the same endpoint towards different public
	// members), "endpoint-dependent" (symmetric NAT), or "unknown" (fewer than two
	// observers).
	Mapping string `json:"mapping"`
}

// PunchState is one relayed pair of hidden members' direct path as one end reports it.
type PunchState struct {
	NodeID int64  `json:"node_id"`
	Phase  string `json:"phase"` // one of PunchPhases
	// Reason says why the pair is held or gave up (empty otherwise).
	Reason string `json:"reason,omitempty"`
}

// PunchPhases are the phases a PunchState can report (package nat's Phase).
var PunchPhases = []string{"relayed", "trying", "punched", "held", "gave-up"}

// RelayGroupUse is one of a node's relay groups and the relay carrying it now.
type RelayGroupUse struct {
	Relays  []string `json:"relays"`  // the group's relays' node ids, primary first
	Current string   `json:"current"` // node id of the relay carrying the group now
	// Since is when the group left its primary (failover); zero when unknown (an
	// older node).
	Since time.Time `json:"since,omitzero"`
}

// PeerSeen is one member's latest answered overlay probe, as a node reports it.
type PeerSeen struct {
	NodeID    int64     `json:"node_id"`
	LastReply time.Time `json:"last_reply"`
}

// NRStates are the states a network resource can report.
var NRStates = []string{"pending", "up", "degraded", "error", "removed"}

// Desired is what a node must run (GET /v1/nodes/{id}/desired).
type Desired struct {
	NodeID       int64         `json:"node_id"`
	Revision     int64         `json:"revision"`
	PublicConfig *PublicConfig `json:"public_config,omitempty"`
	// EgressAllow is the node's farm's egress allow list (Farm.EgressAllow).
	EgressAllow []string         `json:"egress_allow"`
	Networks    []DesiredNetwork `json:"networks"`
	// Workloads are the workloads this node must run (of every network it is in),
	// sorted by network and name.
	Workloads []Workload `json:"workloads"`
	// Exposures are the exposures this node serves as a gateway, by id.
	Exposures []Exposure `json:"exposures"`
}

// DesiredNetwork is one network the node is a member of, with every member's facts.
type DesiredNetwork struct {
	Network
	Peers []PeerFacts `json:"peers"` // every member, the node itself included, by node id
	// HomesFor is the number of members (those with a network-resource report) the
	// peers' Homes were assigned for; 0 when the registry assigned none (the network
	// status route, or a network the planner rejects).
	HomesFor int `json:"homes_for,omitempty"`
}

// PeerFacts is a member's subnet, reported facts and network-resource report.
type PeerFacts struct {
	NodeID       int64         `json:"node_id"`
	Name         string        `json:"name"`
	Subnet       string        `json:"subnet"`
	SourceAddr   string        `json:"source_addr"`
	Facts        NodeFacts     `json:"facts"`
	PublicConfig *PublicConfig `json:"public_config,omitempty"`
	NR           *NRReport     `json:"nr,omitempty"`
	// Homes are the member's home relays (node ids, primary first, then the second),
	// assigned by the registry once per network revision (see DesiredNetwork.HomesFor);
	// empty when the member is not relayed.
	Homes []int64 `json:"homes,omitempty"`
}

// Health is GET /v1/health.
type Health struct {
	Status   string `json:"status"`
	Revision int64  `json:"revision"`
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
