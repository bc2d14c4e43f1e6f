package wg

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// FormatUAPI renders cfg as a wireguard-go UAPI "set" body (without the set=1 line),
// keeping wgctrl's partial-update semantics: nil fields are left out.
func FormatUAPI(cfg wgtypes.Config) string {
	var b strings.Builder
	if cfg.PrivateKey != nil {
		fmt.Fprintf(&b, "private_key=%s\n", hex.EncodeToString(cfg.PrivateKey[:]))
	}
	if cfg.ListenPort != nil {
		fmt.Fprintf(&b, "listen_port=%d\n", *cfg.ListenPort)
	}
	if cfg.FirewallMark != nil {
		fmt.Fprintf(&b, "fwmark=%d\n", *cfg.FirewallMark)
	}
	if cfg.ReplacePeers {
		b.WriteString("replace_peers=true\n")
	}
	for _, p := range cfg.Peers {
		formatPeer(&b, p)
	}
	return b.String()
}

func formatPeer(b *strings.Builder, p wgtypes.PeerConfig) {
	fmt.Fprintf(b, "public_key=%s\n", hex.EncodeToString(p.PublicKey[:]))
	if p.Remove {
		b.WriteString("remove=true\n")
		return
	}
	if p.UpdateOnly {
		b.WriteString("update_only=true\n")
	}
	if p.PresharedKey != nil {
		fmt.Fprintf(b, "preshared_key=%s\n", hex.EncodeToString(p.PresharedKey[:]))
	}
	if p.Endpoint != nil {
		ap := p.Endpoint.AddrPort() // a 16-byte IPv4 would print as ::ffff:a.b.c.d
		fmt.Fprintf(b, "endpoint=%s\n", netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	if p.PersistentKeepaliveInterval != nil {
		fmt.Fprintf(b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepaliveInterval.Seconds()))
	}
	if p.ReplaceAllowedIPs {
		b.WriteString("replace_allowed_ips=true\n")
	}
	for _, a := range p.AllowedIPs {
		fmt.Fprintf(b, "allowed_ip=%s\n", a.String())
	}
}

// ParseUAPI reads a wireguard-go UAPI "get" answer into a wgtypes.Device.
func ParseUAPI(name, s string) (*wgtypes.Device, error) {
	d := &wgtypes.Device{Name: name, Type: wgtypes.Userspace}
	var p *wgtypes.Peer
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("uapi line %q: no '='", line)
		}
		if k == "public_key" {
			key, err := hexKey(v)
			if err != nil {
				return nil, err
			}
			d.Peers = append(d.Peers, wgtypes.Peer{PublicKey: key})
			p = &d.Peers[len(d.Peers)-1]
			continue
		}
		if err := parseField(d, p, k, v); err != nil {
			return nil, fmt.Errorf("uapi %s=%q: %w", k, v, err)
		}
	}
	return d, sc.Err()
}

func parseField(d *wgtypes.Device, p *wgtypes.Peer, k, v string) error {
	var err error
	if p == nil {
		switch k {
		case "private_key":
			d.PrivateKey, err = hexKey(v)
			d.PublicKey = d.PrivateKey.PublicKey()
		case "listen_port":
			d.ListenPort, err = strconv.Atoi(v)
		case "fwmark":
			d.FirewallMark, err = strconv.Atoi(v)
		case "errno":
			if v != "0" {
				err = fmt.Errorf("device error %s", v)
			}
		}
		return err
	}
	return parsePeerField(p, k, v)
}

func parsePeerField(p *wgtypes.Peer, k, v string) error {
	var err error
	var n int64
	switch k {
	case "preshared_key":
		p.PresharedKey, err = hexKey(v)
	case "endpoint":
		var ap netip.AddrPort
		if ap, err = netip.ParseAddrPort(v); err == nil {
			p.Endpoint = net.UDPAddrFromAddrPort(ap)
		}
	case "last_handshake_time_sec":
		if n, err = strconv.ParseInt(v, 10, 64); err == nil && n != 0 {
			p.LastHandshakeTime = time.Unix(n, int64(p.LastHandshakeTime.Nanosecond()))
		}
	case "last_handshake_time_nsec":
		if n, err = strconv.ParseInt(v, 10, 64); err == nil && !p.LastHandshakeTime.IsZero() {
			p.LastHandshakeTime = time.Unix(p.LastHandshakeTime.Unix(), n)
		}
	case "tx_bytes":
		p.TransmitBytes, err = strconv.ParseInt(v, 10, 64)
	case "rx_bytes":
		p.ReceiveBytes, err = strconv.ParseInt(v, 10, 64)
	case "persistent_keepalive_interval":
		if n, err = strconv.ParseInt(v, 10, 64); err == nil {
			p.PersistentKeepaliveInterval = time.Duration(n) * time.Second
		}
	case "allowed_ip":
		var ipn *net.IPNet
		if _, ipn, err = net.ParseCIDR(v); err == nil {
			p.AllowedIPs = append(p.AllowedIPs, *ipn)
		}
	case "protocol_version":
		p.ProtocolVersion, err = strconv.Atoi(v)
	}
	return err
}

func hexKey(s string) (wgtypes.Key, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("key not hex: %w", err)
	}
	return wgtypes.NewKey(b)
}
