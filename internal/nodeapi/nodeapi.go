// Package nodeapi is the node API's wire types: what networkd's local API (package
// localapi) carries between networkd and its clients (the zosnet CLI, provisiond, the
// tests). Network resources (NRSpec, NR), workloads (WorkloadSpec, Workload), the
// farmer's public config (PublicConfig) and the node's status (Status, NodeStatus),
// with the validation of everything a client sends, and the sentinel errors both
// sides branch on.
//
// It is pure and portable: it imports the standard library and the pure packages ula
// and endpoints only (no netlink, nftables or WireGuard), so the user's CLI links it
// on every platform. Its values carry no locks; Validate methods do no I/O.
package nodeapi

import (
	"errors"
	"time"
)

// Sentinels the server side returns (wrapped) and the client gives back (wrapped), so
// callers branch on them with errors.Is. Each maps to one HTTP status in localapi.
var (
	// ErrInvalid marks a refused request: the message names the field and the reason.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound marks a missing network resource or workload.
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a request that clashes with the node's state (a port taken, a
	// subnet change under workloads, uplinks not managed).
	ErrConflict = errors.New("conflict")
	// ErrForbidden marks a change asked by a caller that is not root.
	ErrForbidden = errors.New("forbidden: changes need root")
)

// NR states (NRStatus.State).
const (
	StateOK      = "ok"      // applied as specified
	StatePending = "pending" // accepted, not applied yet
	StateError   = "error"   // last apply failed; see LastError (retried on resync)
)

// NR is a network resource: what was asked and how it runs.
type NR struct {
	Spec   NRSpec   `json:"spec"`
	Status NRStatus `json:"status"`
}

// NRStatus is the node's view of a network resource.
type NRStatus struct {
	PublicKey  string       `json:"public_key"`  // this node's WireGuard key for the NR
	ListenPort uint16       `json:"listen_port"` // allocated or requested UDP port
	State      string       `json:"state"`       // StateOK, StatePending or StateError
	LastError  string       `json:"last_error,omitempty"`
	WGKind     string       `json:"wg_kind,omitempty"` // kernel or userspace
	Subnet6    string       `json:"subnet6"`           // the IPv6 ULA twin of the subnet
	Peers      []PeerStatus `json:"peers"`

	// Endpoints are ip:port where peers reach this NR now: the node's endpoints with
	// the NR's port (they change when a public config is set or removed).
	Endpoints []string `json:"endpoints,omitempty"`
}

// PeerStatus is one peer as WireGuard sees it.
type PeerStatus struct {
	PublicKey       string     `json:"public_key"`
	Endpoint        string     `json:"endpoint,omitempty"` // configured or learned
	LatestHandshake *time.Time `json:"latest_handshake,omitempty"`
	RxBytes         int64      `json:"rx_bytes"`
	TxBytes         int64      `json:"tx_bytes"`
	AllowedIPs      []string   `json:"allowed_ips"`
}

// Status is the node summary at /v1/status.
type Status struct {
	NRs       int    `json:"nrs"`
	Workloads int    `json:"workloads"`
	WGKind    string `json:"wg_kind"`
	StateDir  string `json:"state_dir"`
}
