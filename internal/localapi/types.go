// Package localapi is networkd's local API: HTTP/JSON on a unix socket under /v1/,
// served by Server from a Backend (the daemon), and a typed Client used by the CLI,
// provisiond and the tests. Reads are open to any local user; changes (PUT, DELETE)
// need the caller to be root, checked with the socket's peer credentials. The
// WireGuard private key never appears in any answer.
package localapi

import (
	"errors"
	"time"

	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/workload"
)

// DefaultSocket is where networkd listens by default.
const DefaultSocket = "/run/zosnet/networkd.sock"

// Sentinels a Backend returns (wrapped) and the Client gives back (wrapped), so callers
// can branch on them with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrInvalid   = errors.New("invalid request")
	ErrConflict  = errors.New("conflict")
	ErrForbidden = errors.New("forbidden: changes need root")
)

// NR states.
const (
	StateOK      = "ok"      // applied as specified
	StatePending = "pending" // accepted, not applied yet
	StateError   = "error"   // last apply failed; see LastError (retried on resync)
)

// NR is a network resource: what was asked and how it runs.
type NR struct {
	Spec   resource.Spec `json:"spec"`
	Status NRStatus      `json:"status"`
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

// Workload is an attached workload with its addresses.
type Workload = workload.Info

// Status is the node summary at /v1/status.
type Status struct {
	NRs       int    `json:"nrs"`
	Workloads int    `json:"workloads"`
	WGKind    string `json:"wg_kind"`
	StateDir  string `json:"state_dir"`
}

// errorBody is every error answer.
type errorBody struct {
	Error string `json:"error"`
}
