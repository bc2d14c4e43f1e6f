package networkd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/wg"
)

// bareEnd is one end of a bare wireguard-go tunnel (MTU 1420): no
// namespace of its own, no bridge, no veth, no nftables, no routes but the
// address's own.
type bareEnd struct {
	Name     string // link name; "wgb" when empty
	Key      wgtypes.Key
	Peer     wgtypes.Key // the peer's public key
	Port     int
	Endpoint string // the peer's underlay address:port; empty: learnt when it speaks
	Addr     string // tunnel address with prefix length
	Allowed  string // the peer's tunnel address, as a prefix
}

// up creates the end in ns (TUN and socket both there) and configures it.
func (e bareEnd) up(ns *netns.NS) (wg.Device, error) {
	if e.Name == "" {
		e.Name = "wgb"
	}
	d, err := wg.Create(wg.Options{Name: e.Name, LinkNS: ns, SockNS: ns, MTU: 1420, Kind: wg.Userspace})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	_, an, err := net.ParseCIDR(e.Allowed)
	if err != nil {
		return nil, fmt.Errorf("allowed: %w", err)
	}
	pc := wgtypes.PeerConfig{PublicKey: e.Peer, AllowedIPs: []net.IPNet{*an}}
	if e.Endpoint != "" {
		if pc.Endpoint, err = net.ResolveUDPAddr("udp", e.Endpoint); err != nil {
			return nil, fmt.Errorf("endpoint: %w", err)
		}
	}
	if err := d.Configure(wgtypes.Config{PrivateKey: &e.Key, ListenPort: &e.Port, Peers: []wgtypes.PeerConfig{pc}}); err != nil {
		return nil, err
	}
	h, err := link.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByIndex(d.Index())
	if err != nil {
		return nil, err
	}
	ad, err := netlink.ParseAddr(e.Addr)
	if err != nil {
		return nil, err
	}
	if err := h.AddrAdd(l, ad); err != nil {
		return nil, err
	}
	if err := h.LinkSetUp(l); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// bareEnds returns the two ends of a tunnel x→y: 10.77.0.1 in x, 10.77.0.2 in y
// (listening on 6002 at yAddr).
func bareEnds(yAddr netip.Addr) (x, y bareEnd) {
	kx, _ := wgtypes.GeneratePrivateKey()
	ky, _ := wgtypes.GeneratePrivateKey()
	x = bareEnd{Key: kx, Peer: ky.PublicKey(), Port: 6001, Endpoint: netip.AddrPortFrom(yAddr, 6002).String(),
		Addr: "10.77.0.1/24", Allowed: "10.77.0.2/32"}
	y = bareEnd{Key: ky, Peer: kx.PublicKey(), Port: 6002, Addr: "10.77.0.2/24", Allowed: "10.77.0.1/32"}
	return x, y
}

// runBareWG is the test binary as a bare wireguard-go process (ZOSNET_TEST_BAREWG=
// <JSON bareEnd>), in the namespace it was started in, until killed: one process per
// node, like networkd.
func runBareWG(spec string) int {
	var e bareEnd
	if err := json.Unmarshal([]byte(spec), &e); err != nil {
		fmt.Fprintln(os.Stderr, "barewg: spec:", err)
		return 1
	}
	ns, err := netns.Current()
	if err != nil {
		fmt.Fprintln(os.Stderr, "barewg:", err)
		return 1
	}
	d, err := e.up(ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "barewg:", err)
		return 1
	}
	defer d.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	return 0
}
