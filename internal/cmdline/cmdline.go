// Package cmdline parses the parameters zosnet reads from the kernel command line
// (/proc/cmdline): farmer_id=, zosnet.registry=, zosnet.nic=, zosnet.static=,
// zosnet.ca=, zosnet.acme=, zosnet.relay_weight=, zosnet.punch= and vlan:priv=.
//
// Parsing is pure and safe for concurrent use. A malformed value of a known parameter is
// an error naming the parameter and the reason; unknown parameters are ignored. When a
// parameter is given more than once the last one wins, as with the kernel's own.
package cmdline

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Parameter names as they appear on the kernel command line.
const (
	ParamFarmerID = "farmer_id"
	ParamRegistry = "zosnet.registry"
	ParamNIC      = "zosnet.nic"
	ParamStatic   = "zosnet.static"
	ParamCA       = "zosnet.ca"
	ParamACME     = "zosnet.acme"
	ParamVLANPriv = "vlan:priv"
	// ParamRelayWeight is how much relayed traffic a public node offers to carry.
	ParamRelayWeight = "zosnet.relay_weight"
	// ParamPunch turns direct paths between hidden members on (issue 14).
	ParamPunch = "zosnet.punch"
)

// MaxRelayWeight is the largest zosnet.relay_weight= (gridapi.MaxRelayWeight).
const MaxRelayWeight = 1000

// Config is what netinit takes from the kernel command line. The zero value means
// "nothing given": DHCP on every NIC, no VLAN, no farmer, no registry.
type Config struct {
	// FarmerID is farmer_id=N; 0 when absent.
	FarmerID uint64
	// Registry is zosnet.registry=URL (http or https with a host); nil when absent.
	Registry *url.URL
	// NIC is zosnet.nic=NAME, the NIC netinit must use; "" lets netinit choose.
	NIC string
	// Static is zosnet.static=ADDR/LEN,GATEWAY[,DNS]; nil means DHCP.
	Static *Static
	// CAFile is zosnet.ca=PATH, a PEM file of CAs that verify the registry's TLS
	// certificate; "" when absent.
	CAFile string
	// VLANPriv is vlan:priv=ID, the management VLAN (1–4094); 0 when absent.
	VLANPriv uint16
	// ACME is zosnet.acme=URL, the ACME directory a gateway node gets its
	// certificates from (its TLS verified with zosnet.ca= and the system roots); nil
	// when absent (terminated names are then refused).
	ACME *url.URL
	// RelayWeight is zosnet.relay_weight=N (1–MaxRelayWeight): the share of the relayed
	// traffic of its networks this node offers to carry, compared with the other public
	// members (a node with 3 carries three times what one with 1 does); 0 when absent,
	// which counts as 1.
	RelayWeight int
	// Punch is zosnet.punch=on|off: whether this node, when hidden, tries direct
	// (punched) paths to the other hidden members it is relayed to; on when absent.
	Punch bool
}

// Static is a static IPv4 configuration given instead of DHCP.
type Static struct {
	// Addr is the node's address with its prefix length, e.g. 10.1.0.5/24.
	Addr netip.Prefix
	// Gateway is the default gateway; it is inside Addr's subnet.
	Gateway netip.Addr
	// DNS is the name server, invalid (zero) when not given.
	DNS netip.Addr
}

// ReadFile reads and parses a kernel command line file such as /proc/cmdline.
func ReadFile(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read kernel command line: %w", err)
	}
	return Parse(string(b))
}

// Parse parses a kernel command line.
func Parse(s string) (Config, error) {
	c := Config{Punch: true}
	for _, f := range Fields(s) {
		key, val, hasVal := strings.Cut(f, "=")
		p := parsers[key]
		if p == nil {
			continue
		}
		if !hasVal || val == "" {
			return Config{}, fmt.Errorf("kernel command line parameter %s: missing value (want %s=%s)", key, key, usage[key])
		}
		if err := p(&c, val); err != nil {
			return Config{}, fmt.Errorf("kernel command line parameter %s=%q: %w (want %s=%s)", key, val, err, key, usage[key])
		}
	}
	return c, nil
}

// Fields splits a command line into parameters at white space, keeping double-quoted
// runs together (the quotes are removed), as the kernel does.
func Fields(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

var usage = map[string]string{
	ParamFarmerID:    "N (a positive integer)",
	ParamRegistry:    "URL (http:// or https:// with a host)",
	ParamNIC:         "NAME (a network interface name)",
	ParamStatic:      "ADDR/LEN,GATEWAY[,DNS] (IPv4)",
	ParamCA:          "PATH (an absolute path to a PEM file)",
	ParamVLANPriv:    "ID (1-4094)",
	ParamACME:        "URL (an https:// ACME directory)",
	ParamRelayWeight: "N (1-1000)",
	ParamPunch:       "on|off",
}

var parsers = map[string]func(*Config, string) error{
	ParamFarmerID: func(c *Config, v string) (err error) { c.FarmerID, err = parseFarmer(v); return },
	ParamRegistry: func(c *Config, v string) (err error) { c.Registry, err = ParseRegistry(v); return },
	ParamNIC:      func(c *Config, v string) error { c.NIC = v; return ValidIfName(v) },
	ParamStatic:   func(c *Config, v string) (err error) { c.Static, err = ParseStatic(v); return },
	ParamCA: func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") {
			return errors.New("not an absolute path")
		}
		c.CAFile = v
		return nil
	},
	ParamVLANPriv: func(c *Config, v string) (err error) { c.VLANPriv, err = parseVLAN(v); return },
	ParamRelayWeight: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxRelayWeight {
			return fmt.Errorf("not an integer between 1 and %d", MaxRelayWeight)
		}
		c.RelayWeight = n
		return nil
	},
	ParamPunch: func(c *Config, v string) error {
		switch v {
		case "on":
			c.Punch = true
		case "off":
			c.Punch = false
		default:
			return errors.New("neither on nor off")
		}
		return nil
	},
	ParamACME: func(c *Config, v string) (err error) {
		if c.ACME, err = ParseRegistry(v); err == nil && c.ACME.Scheme != "https" {
			c.ACME, err = nil, errors.New("an ACME directory is served over https")
		}
		return err
	},
}

func parseFarmer(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, errors.New("not a positive integer")
	}
	return n, nil
}

func parseVLAN(v string) (uint16, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n < 1 || n > 4094 {
		return 0, errors.New("not a VLAN id between 1 and 4094")
	}
	return uint16(n), nil
}

// ParseRegistry checks a registry URL: http or https, with a host, no user info.
func ParseRegistry(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("no host")
	case u.User != nil:
		return nil, errors.New("user info is not allowed")
	}
	return u, nil
}

// ValidIfName checks a Linux interface name: 1–15 bytes, no '/', ':', white space.
func ValidIfName(n string) error {
	switch {
	case n == "" || len(n) > 15:
		return errors.New("interface names are 1 to 15 bytes")
	case n == "." || n == "..":
		return errors.New("not an interface name")
	case strings.ContainsAny(n, "/: \t\n\x00"):
		return errors.New("interface names cannot contain '/', ':' or white space")
	}
	return nil
}

// ParseStatic parses ADDR/LEN,GATEWAY[,DNS]: an IPv4 host address with its prefix
// length, a gateway inside that subnet, and an optional name server.
func ParseStatic(v string) (*Static, error) {
	parts := strings.Split(v, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, errors.New("want 2 or 3 comma-separated fields")
	}
	pfx, err := netip.ParsePrefix(parts[0])
	if err != nil || !pfx.Addr().Is4() {
		return nil, errors.New("address: not an IPv4 ADDR/LEN")
	}
	if err := hostInPrefix(pfx); err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	gw, err := netip.ParseAddr(parts[1])
	if err != nil || !gw.Is4() {
		return nil, errors.New("gateway: not an IPv4 address")
	}
	if !pfx.Masked().Contains(gw) || gw == pfx.Addr() {
		return nil, errors.New("gateway: must be another address inside " + pfx.Masked().String())
	}
	s := &Static{Addr: pfx, Gateway: gw}
	if len(parts) == 3 {
		if s.DNS, err = netip.ParseAddr(parts[2]); err != nil || !s.DNS.Is4() {
			return nil, errors.New("dns: not an IPv4 address")
		}
	}
	return s, nil
}

func hostInPrefix(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case p.Bits() < 8:
		return errors.New("prefix length below 8")
	case p.Bits() == 32:
		return errors.New("a /32 leaves no room for a gateway")
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast():
		return errors.New("not a usable unicast address")
	case p.Bits() <= 30 && a == p.Masked().Addr():
		return errors.New("is the network address of its subnet")
	case p.Bits() <= 30 && a == lastAddr(p):
		return errors.New("is the broadcast address of its subnet")
	}
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
