// Package wgquick renders and parses wg-quick(8) configuration files, for the external
// access device of a zosnet network (`zosnet network access add`). It is pure: Render
// writes to an io.Writer, Parse reads from an io.Reader, nothing else is touched.
//
// The device's private key is made on the device (by the CLI that runs there) and only
// its public key goes to the registry; Render puts the private key into the file the
// CLI writes with mode 0600 on that same device.
package wgquick

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/zosnet/zosnet/internal/plan"
)

// Config is one wg-quick file: an [Interface] section and its [Peer] sections.
type Config struct {
	Interface Interface
	Peers     []Peer
}

// Interface is the [Interface] section. Zero values are left out of the file.
type Interface struct {
	PrivateKey string         // base64, required
	Address    []netip.Prefix // the device's overlay addresses
	ListenPort int            // 0: random port
	MTU        int            // 0: wg-quick's default (underlay MTU - 80)
}

// Peer is one [Peer] section.
type Peer struct {
	PublicKey           string         // base64, required
	Endpoint            netip.AddrPort // zero: none
	AllowedIPs          []netip.Prefix // what is routed to the peer
	PersistentKeepalive int            // seconds, 0: off
}

// ErrSyntax is wrapped by every Parse error.
var ErrSyntax = errors.New("wg-quick syntax error")

// FromDevice builds the config of access device d with the device's own private key.
// mtu 0 leaves the MTU to wg-quick.
func FromDevice(d plan.DevicePlan, privateKey string, mtu int) (Config, error) {
	c := Config{
		Interface: Interface{PrivateKey: privateKey, Address: deviceAddrs(d), MTU: mtu},
		Peers: []Peer{{PublicKey: d.Peer.PublicKey, Endpoint: d.Peer.Endpoint, AllowedIPs: d.Peer.AllowedIPs,
			PersistentKeepalive: d.Peer.Keepalive}},
	}
	return c, c.Validate()
}

// deviceAddrs are the device's IPv4 address and, when the plan has one, its IPv6 ULA.
func deviceAddrs(d plan.DevicePlan) []netip.Prefix {
	out := []netip.Prefix{netip.PrefixFrom(d.Address, 32)}
	if d.Address6.IsValid() {
		out = append(out, netip.PrefixFrom(d.Address6, 128))
	}
	return out
}

// Validate checks what wg-quick would reject, naming the field.
func (c Config) Validate() error {
	var errs []error
	if !plan.ValidKey(c.Interface.PrivateKey) {
		errs = append(errs, errors.New("interface.private_key: not a base64 32-byte WireGuard key"))
	}
	if c.Interface.ListenPort < 0 || c.Interface.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("interface.listen_port: %d is not in 0-65535", c.Interface.ListenPort))
	}
	if c.Interface.MTU != 0 && (c.Interface.MTU < 1280 || c.Interface.MTU > 9000) {
		errs = append(errs, fmt.Errorf("interface.mtu: %d is not in 1280-9000", c.Interface.MTU))
	}
	for i, p := range c.Peers {
		if !plan.ValidKey(p.PublicKey) {
			errs = append(errs, fmt.Errorf("peers[%d].public_key: not a base64 32-byte WireGuard key", i))
		}
		if p.PersistentKeepalive < 0 || p.PersistentKeepalive > 65535 {
			errs = append(errs, fmt.Errorf("peers[%d].persistent_keepalive: %d is not in 0-65535", i, p.PersistentKeepalive))
		}
		if p.Endpoint.IsValid() && p.Endpoint.Port() == 0 {
			errs = append(errs, fmt.Errorf("peers[%d].endpoint: %s has no port", i, p.Endpoint))
		}
	}
	return errors.Join(errs...)
}

// Render writes c as a wg-quick file, after the comment lines of header (each line gets
// a "# " prefix). It refuses an invalid config.
func Render(w io.Writer, c Config, header string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("render wg-quick config: %w", err)
	}
	var b strings.Builder
	for line := range strings.Lines(header) {
		fmt.Fprintf(&b, "# %s\n", strings.TrimRight(line, "\n"))
	}
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", c.Interface.PrivateKey)
	writeList(&b, "Address", c.Interface.Address)
	writeInt(&b, "ListenPort", c.Interface.ListenPort)
	writeInt(&b, "MTU", c.Interface.MTU)
	for _, p := range c.Peers {
		b.WriteString("\n[Peer]\n")
		fmt.Fprintf(&b, "PublicKey = %s\n", p.PublicKey)
		if p.Endpoint.IsValid() {
			fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
		}
		writeList(&b, "AllowedIPs", p.AllowedIPs)
		writeInt(&b, "PersistentKeepalive", p.PersistentKeepalive)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeList(b *strings.Builder, key string, ps []netip.Prefix) {
	if len(ps) == 0 {
		return
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	fmt.Fprintf(b, "%s = %s\n", key, strings.Join(s, ", "))
}

func writeInt(b *strings.Builder, key string, v int) {
	if v != 0 {
		fmt.Fprintf(b, "%s = %d\n", key, v)
	}
}

// RenderDevice writes the wg-quick file of access device d of network networkID, with
// a header that says what it is and how to use it.
func RenderDevice(w io.Writer, networkID string, d plan.DevicePlan, privateKey string, mtu int) error {
	c, err := FromDevice(d, privateKey, mtu)
	if err != nil {
		return fmt.Errorf("wg-quick config for device %q: %w", d.Name, err)
	}
	addrs := d.Address.String()
	if d.Address6.IsValid() {
		addrs += ", " + d.Address6.String()
	}
	header := fmt.Sprintf("zosnet network %s: device %s (%s), through node %s.\n"+
		"Keep this file private (it holds the device's private key).\n"+
		"Use: wg-quick up ./<name>.conf", networkID, d.Name, addrs, d.AccessNode)
	return Render(w, c, header)
}
