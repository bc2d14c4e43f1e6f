package nodeapi

import "github.com/zosnet/zosnet/internal/endpoints"

// UplinkStatus is the node's uplink report: where the WireGuard sockets live, the
// uplinks with their addresses, the endpoints and the hidden flag (package public
// reads it from the kernel).
type UplinkStatus struct {
	// Hidden is true when no address of the socket namespace can be an endpoint.
	Hidden bool `json:"hidden"`
	// SocketNamespace is where the WireGuard sockets live: "host" or "public".
	SocketNamespace string `json:"socket_namespace"`
	// Uplinks are zos, br-pub, ndmz and (with a public config) public.
	Uplinks []UplinkInfo `json:"uplinks"`
	// Endpoints are the addresses peers can reach this node's WireGuard ports at.
	Endpoints []endpoints.Endpoint `json:"endpoints"`
	// Refused are the socket namespace's other addresses, with the reason.
	Refused []endpoints.Refused `json:"refused"`
	// PublicConfig is the farmer's public config, nil when unset.
	PublicConfig *PublicConfig `json:"public_config"`
}

// UplinkInfo is one uplink of the node.
type UplinkInfo struct {
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	Mode      string   `json:"mode,omitempty"`
	NIC       string   `json:"nic,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Addresses []string `json:"addresses"`
}

// NodeStatus is /v1/node: the node's uplinks, endpoints and the top-level hidden flag.
type NodeStatus struct {
	UplinkStatus
	// Managed is false while networkd does not manage the uplinks (then Hidden is true
	// and the lists are empty).
	Managed bool   `json:"managed"`
	Note    string `json:"note,omitempty"`
	// Registry is provisiond's last report of the registry connection; nil until
	// provisiond sent one to this networkd.
	Registry *RegistryStatus `json:"registry"`
	// Restored is what networkd restored from disk at its start; nil until its first
	// pass finished.
	Restored *Restored `json:"restored"`
	// Egress is what workloads may reach (nil while the uplinks are not managed).
	Egress *EgressStatus `json:"egress,omitempty"`
}
