package gridapi

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Exposure kinds.
const (
	ExposeHTTP = "http" // a name under the gateway's domain, ports 80 and 443
	ExposeTCP  = "tcp"  // a port on the gateway's public addresses
	ExposeUDP  = "udp"  // a port on the gateway's public addresses
)

// TLS modes of an HTTP exposure.
const (
	TLSTerminate   = "terminate"   // the gateway holds an ACME certificate for the name
	TLSPassthrough = "passthrough" // the gateway routes by SNI and never holds a key
)

// Limits and ranges of exposures.
const (
	MaxBackends = 16
	// Ports a tcp or udp exposure may claim on a gateway: 1024–65535 without networkd's
	// WireGuard ports (3000–3999, in the same `public` namespace).
	MinExposePort, MaxExposePort = 1024, 65535
	// AutoPortMin–AutoPortMax is where the registry picks a port when none is asked for.
	AutoPortMin, AutoPortMax = 20000, 29999
)

// Exposure is a user's service published through a gateway node: a name under the
// gateway's domain (http) or a port on its public addresses (tcp, udp), pointed at
// backends on one of the owner's networks. The gateway node joins that network (a
// member with Gateway set) so that backends on hidden nodes are reached over the mesh.
type Exposure struct {
	ID      string `json:"id"`      // assigned by the registry, [a-z0-9]{8}
	Owner   string `json:"owner"`   // key id of the creator, who must own Network
	Network string `json:"network"` // network id
	Gateway int64  `json:"gateway"` // node id of the gateway
	Kind    string `json:"kind"`    // http, tcp or udp
	// Name is the DNS label an http exposure claims; FQDN is Name.<gateway domain>.
	Name string `json:"name,omitempty"`
	FQDN string `json:"fqdn,omitempty"`
	TLS  string `json:"tls,omitempty"` // http: terminate or passthrough
	// Port is the public port of a tcp or udp exposure on the gateway.
	Port int `json:"port,omitempty"`
	// Backends are WORKLOAD:PORT (a grid workload of the network) or ADDR:PORT on the
	// network, as the owner gave them.
	Backends []string `json:"backends"`
	// Resolved are the backends as addresses (ip:port), in Backends' order.
	Resolved []string `json:"resolved"`
	// ProxyProtocol sends a PROXY protocol v2 header to the backends (the client's address).
	ProxyProtocol bool      `json:"proxy_protocol,omitempty"`
	Created       time.Time `json:"created"`
	// Status is the gateway's last report (nil until the gateway serves it).
	Status *ExposureReport `json:"status,omitempty"`
}

// ExposureReport is what the gateway node reports about an exposure it serves
// (PUT /v1/nodes/{id}/exposures/{exposure}/report).
type ExposureReport struct {
	Backends []BackendHealth `json:"backends"`
	// CertNotAfter is when the certificate of a terminated name expires (zero: none yet,
	// or not terminated here).
	CertNotAfter time.Time `json:"cert_not_after,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	Updated      time.Time `json:"updated"` // set by the registry
}

// BackendHealth is one backend's state as the gateway's active health checks see it.
type BackendHealth struct {
	Addr      string    `json:"addr"` // ip:port
	Healthy   bool      `json:"healthy"`
	LastCheck time.Time `json:"last_check,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Validate checks a gateway's report.
func (r *ExposureReport) Validate() error {
	if len(r.Backends) > MaxBackends {
		return fieldErr("backends", "%d backends, at most %d", len(r.Backends), MaxBackends)
	}
	for i, b := range r.Backends {
		if _, err := netip.ParseAddrPort(b.Addr); err != nil {
			return fieldErr(fmt.Sprintf("backends[%d].addr", i), "not ip:port: %q", b.Addr)
		}
		if len(b.LastError) > 512 {
			return fieldErr(fmt.Sprintf("backends[%d].last_error", i), "longer than 512 bytes")
		}
	}
	if len(r.LastError) > 512 {
		return fieldErr("last_error", "longer than 512 bytes")
	}
	return nil
}

// ExposureSpec is the body of POST /v1/exposures.
type ExposureSpec struct {
	Network string `json:"network"`           // network id
	Kind    string `json:"kind"`              // http, tcp or udp
	Gateway int64  `json:"gateway,omitempty"` // 0: the registry picks a gateway
	Name    string `json:"name,omitempty"`    // http only: a DNS label
	TLS     string `json:"tls,omitempty"`     // http only: terminate (default) or passthrough
	Port    int    `json:"port,omitempty"`    // tcp/udp only: 0 = the registry picks one
	// Backends are ADDR:PORT (an IPv4 address inside the network) or WORKLOAD:PORT.
	Backends      []string `json:"backends"`
	ProxyProtocol bool     `json:"proxy_protocol,omitempty"`
}

// Normalize fills defaults (TLS terminate for http).
func (s *ExposureSpec) Normalize() {
	if s.Kind == ExposeHTTP && s.TLS == "" {
		s.TLS = TLSTerminate
	}
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidLabel checks one DNS label of a name to expose: 1–63 characters of lower-case
// letters, digits and '-', neither first nor last a '-', no "xn--"-style prefix
// (two hyphens at 3–4: reserved for IDNs), not all digits.
func ValidLabel(field, s string) error {
	switch {
	case !labelRE.MatchString(s):
		return fieldErr(field, "%q is not a DNS label: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'", s)
	case len(s) >= 4 && s[2:4] == "--":
		return fieldErr(field, "%q: '--' at positions 3-4 is reserved for internationalized names", s)
	case strings.Trim(s, "0123456789") == "":
		return fieldErr(field, "%q must not be all digits", s)
	}
	return nil
}

// ValidExposePort checks a public port a tcp or udp exposure asks for.
func ValidExposePort(field string, p int) error {
	switch {
	case p < MinExposePort || p > MaxExposePort:
		return fieldErr(field, "%d is outside %d-%d", p, MinExposePort, MaxExposePort)
	case p >= 3000 && p <= 3999:
		return fieldErr(field, "%d is in 3000-3999, reserved for WireGuard on the gateway", p)
	}
	return nil
}

// Backend is a parsed backend reference: an address or a workload name, and a port.
type Backend struct {
	Addr     netip.Addr // valid for an ADDR:PORT reference
	Workload string     // set for a WORKLOAD:PORT reference
	Port     uint16
}

// ParseBackend parses ADDR:PORT (IPv4) or WORKLOAD:PORT.
func ParseBackend(field, s string) (Backend, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(port, ":") {
		return Backend{}, fieldErr(field, "%q is not ADDR:PORT or WORKLOAD:PORT", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return Backend{}, fieldErr(field, "%q: port must be 1-65535", s)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return Backend{}, fieldErr(field, "%q: a backend address is an IPv4 address on the network", s)
		}
		return Backend{Addr: a, Port: uint16(p)}, nil
	}
	if err := ValidName(field, host); err != nil {
		return Backend{}, fieldErr(field, "%q: not an IPv4 address nor a workload name", s)
	}
	return Backend{Workload: host, Port: uint16(p)}, nil
}

// Validate checks an exposure request on its own (the registry checks the network,
// the gateway and the names in use).
func (s *ExposureSpec) Validate() error {
	if s.Network == "" {
		return fieldErr("network", "required")
	}
	if s.Gateway < 0 {
		return fieldErr("gateway", "not a node id: %d", s.Gateway)
	}
	switch s.Kind {
	case ExposeHTTP:
		if err := s.validateHTTP(); err != nil {
			return err
		}
	case ExposeTCP, ExposeUDP:
		if err := s.validateRaw(); err != nil {
			return err
		}
	default:
		return fieldErr("kind", "%q is not one of http, tcp, udp", s.Kind)
	}
	return validBackends(s.Backends, s.Kind)
}

func (s *ExposureSpec) validateHTTP() error {
	if err := ValidLabel("name", s.Name); err != nil {
		return err
	}
	if s.TLS != TLSTerminate && s.TLS != TLSPassthrough {
		return fieldErr("tls", "%q is not one of terminate, passthrough", s.TLS)
	}
	if s.Port != 0 {
		return fieldErr("port", "http exposures use the gateway's ports 80 and 443")
	}
	return nil
}

func (s *ExposureSpec) validateRaw() error {
	if s.Name != "" {
		return fieldErr("name", "only http exposures have a name")
	}
	if s.TLS != "" {
		return fieldErr("tls", "only http exposures have a TLS mode")
	}
	if s.Port != 0 {
		return ValidExposePort("port", s.Port)
	}
	return nil
}

func validBackends(bs []string, kind string) error {
	if len(bs) == 0 {
		return fieldErr("backends", "at least one backend is required")
	}
	if len(bs) > MaxBackends {
		return fieldErr("backends", "%d backends, at most %d", len(bs), MaxBackends)
	}
	if kind == ExposeUDP && len(bs) > 1 {
		return fieldErr("backends", "a udp exposure has one backend")
	}
	seen := map[string]bool{}
	for i, b := range bs {
		f := fmt.Sprintf("backends[%d]", i)
		if _, err := ParseBackend(f, b); err != nil {
			return err
		}
		if seen[b] {
			return fieldErr(f, "%q is listed twice", b)
		}
		seen[b] = true
	}
	return nil
}
