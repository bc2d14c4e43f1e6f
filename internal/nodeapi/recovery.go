package nodeapi

import (
	"fmt"
	"net/url"
	"time"
)

// RegistryStatus is the node's connection to the registry as provisiond last reported
// it to networkd (PUT /v1/registry), shown by `zosnet node status`. networkd never talks
// to the registry itself; it only keeps this report in memory.
type RegistryStatus struct {
	// URL is the registry provisiond talks to.
	URL string `json:"url"`
	// NodeID is the node's id in the registry, 0 until it registered.
	NodeID int64 `json:"node_id"`
	// Connected: the registry answered the last request. Since is when that last
	// flipped: connected since, or retrying since.
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"`
	// LastError is the last failed request ("" when none) and LastErrorAt its time.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// LastContact is when the registry last answered (zero: never since provisiond started).
	LastContact time.Time `json:"last_contact,omitzero"`
}

// maxStatusText bounds the free-text fields of a RegistryStatus.
const maxStatusText = 1024

// Validate checks a report received over the local API.
func (r RegistryStatus) Validate() error {
	if len(r.URL) > maxStatusText {
		return fmt.Errorf("%w registry status: url longer than %d bytes", ErrInvalid, maxStatusText)
	}
	if r.URL != "" {
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w registry status: url %q is not an http(s) URL", ErrInvalid, r.URL)
		}
	}
	if r.NodeID < 0 {
		return fmt.Errorf("%w registry status: node_id %d is negative", ErrInvalid, r.NodeID)
	}
	if len(r.LastError) > maxStatusText {
		return fmt.Errorf("%w registry status: last_error longer than %d bytes", ErrInvalid, maxStatusText)
	}
	if r.Since.IsZero() {
		return fmt.Errorf("%w registry status: since is required", ErrInvalid)
	}
	return nil
}

// Restored is what networkd restored from its own disk at start, before and without
// provisiond or the registry.
type Restored struct {
	// At is when the first pass over the persisted state finished; Took how long it took.
	At   time.Time     `json:"at"`
	Took time.Duration `json:"took_ns"`
	// NRs are the network resources restored (with their keys, ports and peers), Failed
	// those whose first apply failed (retried at every resync).
	NRs    []string `json:"nrs"`
	Failed []string `json:"failed,omitempty"`
	// Workloads is the number of workloads re-attached.
	Workloads int `json:"workloads"`
	// PublicConfig: a persisted public config was re-applied.
	PublicConfig bool `json:"public_config"`
	// LearnedEndpoints is the number of hidden peers' last known endpoints handed back
	// to their devices (which then handshake at once).
	LearnedEndpoints int `json:"learned_endpoints"`
}
