package gridapi

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

// Workload kinds (WorkloadSpec.Kind).
const (
	KindContainer = "container" // a network namespace on the node, joined by a veth
	KindVM        = "vm"        // a tap on the node, for a VM; the NR answers its DHCP and RAs
)

// WorkloadStates are the states a node reports for a workload.
var WorkloadStates = []string{"pending", "up", "error"}

// MaxWorkloadName is the longest workload name: the node names it <network>-<name>,
// at most 40 characters with an 11-character network id.
const MaxWorkloadName = 28

// WorkloadSpec is the body of POST /v1/networks/{network}/workloads, signed by the
// network's owner.
type WorkloadSpec struct {
	Name       string `json:"name"`                  // [a-z0-9][a-z0-9-]{0,27}, unique in the network
	NodeID     int64  `json:"node_id"`               // a member of the network
	Kind       string `json:"kind,omitempty"`        // KindContainer (default) or KindVM
	PublicIPv4 bool   `json:"public_ipv4,omitempty"` // take an address of the node's farm pool
	PublicIPv6 bool   `json:"public_ipv6,omitempty"` // take an address of the node's public /64
}

// Workload is a workload as the registry keeps it, with the node's last report.
type Workload struct {
	NetworkID string    `json:"network_id"`
	Name      string    `json:"name"`
	NodeID    int64     `json:"node_id"`
	Kind      string    `json:"kind"`
	Owner     string    `json:"owner"` // the network owner's key id
	Created   time.Time `json:"created"`
	// PublicIPv4 is the farm pool address given to it (CIDR), PublicGW4 its gateway;
	// both empty without --public-ipv4.
	PublicIPv4 string `json:"public_ipv4,omitempty"`
	PublicGW4  string `json:"public_gw4,omitempty"`
	// PublicIPv6 asks the node for an address of its public /64 (the report has it).
	PublicIPv6 bool            `json:"public_ipv6,omitempty"`
	Report     *WorkloadReport `json:"report,omitempty"`
}

// WorkloadReport is what the node reports about a workload
// (PUT /v1/nodes/{id}/workloads/{network}/{name}/report).
type WorkloadReport struct {
	State      string    `json:"state"`          // one of WorkloadStates
	IPv4       string    `json:"ipv4,omitempty"` // CIDR in the node's subnet
	IPv6       string    `json:"ipv6,omitempty"` // CIDR, the ULA twin
	MAC        string    `json:"mac,omitempty"`
	PublicIPv4 string    `json:"public_ipv4,omitempty"` // CIDR
	PublicIPv6 string    `json:"public_ipv6,omitempty"` // CIDR
	Error      string    `json:"error,omitempty"`
	Updated    time.Time `json:"updated"` // set by the registry
}

// PublicIPsAdd is the body of POST /v1/farms/{farm}/public-ips (the farm's owner): IPv4
// addresses (CIDR, the prefix is the on-link network) reachable through Gateway.
type PublicIPsAdd struct {
	IPs     []string `json:"ips"`
	Gateway string   `json:"gateway"`
}

// PublicIP is one address of a farm's public IPv4 pool and who uses it.
type PublicIP struct {
	IP        string `json:"ip"` // CIDR
	Gateway   string `json:"gateway"`
	FarmID    int64  `json:"farm_id"`
	NetworkID string `json:"network_id,omitempty"` // with Workload: the user of the address
	Workload  string `json:"workload,omitempty"`
}

// MaxPublicIPs is the most addresses one POST may add.
const MaxPublicIPs = 256

var workloadNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,27}$`)

// Normalize fills the default kind.
func (s *WorkloadSpec) Normalize() {
	if s.Kind == "" {
		s.Kind = KindContainer
	}
}

// Validate checks a workload spec on its own (membership is the store's check).
func (s *WorkloadSpec) Validate() error {
	if !workloadNameRE.MatchString(s.Name) {
		return fieldErr("name", "%q must be 1 to %d of [a-z0-9-], starting with a letter or digit", s.Name, MaxWorkloadName)
	}
	if s.NodeID <= 0 {
		return fieldErr("node_id", "must be a node id, got %d", s.NodeID)
	}
	if s.Kind != KindContainer && s.Kind != KindVM {
		return fieldErr("kind", "%q must be container or vm", s.Kind)
	}
	return nil
}

// ValidWorkloadName checks a workload name in a path.
func ValidWorkloadName(field, s string) error {
	if !workloadNameRE.MatchString(s) {
		return fieldErr(field, "%q is not a workload name (1 to %d of [a-z0-9-])", s, MaxWorkloadName)
	}
	return nil
}

// Validate checks a workload report.
func (r *WorkloadReport) Validate() error {
	if !contains(WorkloadStates, r.State) {
		return fieldErr("state", "%q must be one of %v", r.State, WorkloadStates)
	}
	for _, f := range []struct{ name, v string }{{"ipv4", r.IPv4}, {"ipv6", r.IPv6}, {"public_ipv4", r.PublicIPv4}, {"public_ipv6", r.PublicIPv6}} {
		if f.v == "" {
			continue
		}
		if _, err := netip.ParsePrefix(f.v); err != nil {
			return fieldErr(f.name, "%q is not a CIDR address", f.v)
		}
	}
	if r.MAC != "" && !macRE.MatchString(r.MAC) {
		return fieldErr("mac", "%q is not a MAC address like 02:00:00:00:00:01", r.MAC)
	}
	if len(r.Error) > 1024 {
		return fieldErr("error", "longer than 1024 characters")
	}
	return nil
}

var macRE = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Parse validates the addition and returns the addresses (with their prefix) and the
// gateway: IPv4 only, the gateway inside every address's prefix and not one of them,
// no duplicates, no network or broadcast address.
func (a *PublicIPsAdd) Parse() ([]netip.Prefix, netip.Addr, error) {
	gw, err := netip.ParseAddr(a.Gateway)
	if err != nil || !gw.Is4() {
		return nil, gw, fieldErr("gateway", "%q is not an IPv4 address", a.Gateway)
	}
	if len(a.IPs) == 0 || len(a.IPs) > MaxPublicIPs {
		return nil, gw, fieldErr("ips", "give 1 to %d addresses, got %d", MaxPublicIPs, len(a.IPs))
	}
	seen := map[netip.Addr]bool{}
	out := make([]netip.Prefix, 0, len(a.IPs))
	for i, s := range a.IPs {
		f := "ips[" + strconv.Itoa(i) + "]"
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 30 {
			return nil, gw, fieldErr(f, "%q must be an IPv4 address with its on-link prefix (/8 to /30), like 203.0.113.50/24", s)
		}
		if !p.Contains(gw) || p.Addr() == gw {
			return nil, gw, fieldErr(f, "%s: the gateway %s must be on its link and not the address itself", s, gw)
		}
		if p.Addr() == p.Masked().Addr() || p.Addr() == lastAddr(p) {
			return nil, gw, fieldErr(f, "%s is the network or broadcast address of its prefix", s)
		}
		if seen[p.Addr()] {
			return nil, gw, fieldErr(f, "%s is listed twice", s)
		}
		seen[p.Addr()] = true
		out = append(out, p)
	}
	return out, gw, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func workloadPath(network, name string) string {
	p := "/v1/networks/" + url.PathEscape(network) + "/workloads"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// CreateWorkload deploys a workload in a network (the network's owner only).
func (c *Client) CreateWorkload(ctx context.Context, network string, s WorkloadSpec) (Workload, error) {
	var out Workload
	return out, c.do(ctx, http.MethodPost, workloadPath(network, ""), s, &out)
}

// Workload returns one workload of a network with its node's report: the addresses a
// gateway backend WORKLOAD:PORT resolves to are Report.IPv4 and Report.IPv6.
func (c *Client) Workload(ctx context.Context, network, name string) (Workload, error) {
	var out Workload
	return out, c.do(ctx, http.MethodGet, workloadPath(network, name), nil, &out)
}

// Workloads lists a network's workloads, sorted by name.
func (c *Client) Workloads(ctx context.Context, network string) ([]Workload, error) {
	var out []Workload
	return out, c.do(ctx, http.MethodGet, workloadPath(network, ""), nil, &out)
}

// DeleteWorkload removes a workload (the network's owner only); its public address
// returns to the farm's pool.
func (c *Client) DeleteWorkload(ctx context.Context, network, name string) error {
	return c.do(ctx, http.MethodDelete, workloadPath(network, name), nil, nil)
}

// ReportWorkload reports one of the node's workloads.
func (c *Client) ReportWorkload(ctx context.Context, node int64, network, name string, r WorkloadReport) error {
	return c.do(ctx, http.MethodPut, nodePath(node, "/workloads/"+url.PathEscape(network)+"/"+url.PathEscape(name)+"/report"), r, nil)
}

func farmIPsPath(farm string) string { return "/v1/farms/" + url.PathEscape(farm) + "/public-ips" }

// AddPublicIPs adds IPv4 addresses to a farm's pool (the farm's owner only).
func (c *Client) AddPublicIPs(ctx context.Context, farm string, a PublicIPsAdd) ([]PublicIP, error) {
	var out []PublicIP
	return out, c.do(ctx, http.MethodPost, farmIPsPath(farm), a, &out)
}

// PublicIPs lists a farm's pool and who uses each address.
func (c *Client) PublicIPs(ctx context.Context, farm string) ([]PublicIP, error) {
	var out []PublicIP
	return out, c.do(ctx, http.MethodGet, farmIPsPath(farm), nil, &out)
}

// RemovePublicIP removes a free address from a farm's pool (the farm's owner only).
func (c *Client) RemovePublicIP(ctx context.Context, farm, ip string) error {
	return c.do(ctx, http.MethodDelete, farmIPsPath(farm)+"/"+url.PathEscape(ip), nil, nil)
}
