package wg

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func handle(t *testing.T, ns *netns.NS) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(vnetns.NsHandle(ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// underlay joins two socket namespaces with a veth of the given MTU: 10.99.0.1/.2.
func underlay(t *testing.T, a, b *netns.NS, mtu int) {
	t.Helper()
	ha, hb := handle(t, a), handle(t, b)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ua", MTU: mtu}, PeerName: "ub", PeerNamespace: netlink.NsFd(b.Fd())}
	if err := ha.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{ha, "ua", "10.99.0.1/24"}, {hb, "ub", "10.99.0.2/24"}} {
		l, err := x.h.LinkByName(x.name)
		if err != nil {
			t.Fatal(err)
		}
		ad, _ := netlink.ParseAddr(x.addr)
		if err := x.h.AddrAdd(l, ad); err != nil {
			t.Fatal(err)
		}
		if err := x.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

type side struct {
	sock, link *netns.NS
	key        wgtypes.Key
	dev        Device
}

func newSide(t *testing.T, kind Kind, mtu int) *side {
	t.Helper()
	s := &side{sock: testkit.NewNS(t), link: testkit.NewNS(t)}
	var err error
	if s.key, err = wgtypes.GeneratePrivateKey(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *side) create(t *testing.T, kind Kind, mtu int) {
	t.Helper()
	d, err := Create(Options{Name: "w-test", LinkNS: s.link, SockNS: s.sock, MTU: mtu, Kind: kind, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		if kind == Kernel && errors.Is(err, ErrNoKernel) {
			testkit.MissingKernelFeature(t, "wireguard kernel module", err)
		}
		t.Fatal(err)
	}
	s.dev = d
	t.Cleanup(func() { d.Close() })
}

func ipnet(s string) net.IPNet {
	_, n, _ := net.ParseCIDR(s)
	return *n
}

func (s *side) up(t *testing.T, addr string) {
	t.Helper()
	h := handle(t, s.link)
	l, err := h.LinkByIndex(s.dev.Index())
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := netlink.ParseAddr(addr)
	if err := h.AddrAdd(l, ad); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

func ping(t *testing.T, ns *netns.NS, dst string) error {
	t.Helper()
	ns.Do(func() error { testkit.RefuseInit(t); return nil })
	out, err := exec.Command("nsenter", "--net="+ns.Path(), "ping", "-c1", "-W1", "-n", dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

func pollPing(t *testing.T, ns *netns.NS, dst string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ping(t, ns, dst)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping %s from %s: %v", dst, ns.Path(), err)
		}
	}
}

func tunnel(t *testing.T, kind Kind, mtu int) (*side, *side) {
	a, b := newSide(t, kind, mtu), newSide(t, kind, mtu)
	underlay(t, a.sock, b.sock, mtu)
	a.create(t, kind, mtu-80)
	b.create(t, kind, mtu-80)
	pa, pb := 51820, 51821
	ka := time.Duration(0)
	if err := a.dev.Configure(wgtypes.Config{PrivateKey: &a.key, ListenPort: &pa, ReplacePeers: true,
		Peers: []wgtypes.PeerConfig{{PublicKey: b.key.PublicKey(), Endpoint: &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: pb},
			AllowedIPs: []net.IPNet{ipnet("10.1.2.0/24")}}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.dev.Configure(wgtypes.Config{PrivateKey: &b.key, ListenPort: &pb, ReplacePeers: true,
		Peers: []wgtypes.PeerConfig{{PublicKey: a.key.PublicKey(), PersistentKeepaliveInterval: &ka,
			AllowedIPs: []net.IPNet{ipnet("10.1.1.0/24")}}}}); err != nil {
		t.Fatal(err)
	}
	a.up(t, "10.1.1.1/16")
	b.up(t, "10.1.2.1/16")
	return a, b
}

func TestUserspaceTunnel(t *testing.T) {
	testkit.RequireRoot(t)
	for _, mtu := range []int{1400, 1500} {
		t.Run("mtu"+itoa(mtu), func(t *testing.T) {
			testkit.LeakCheck(t)
			a, b := tunnel(t, Userspace, mtu)
			// b has no endpoint for a (hidden-style); a speaks first.
			pollPing(t, a.link, "10.1.2.1")
			pollPing(t, b.link, "10.1.1.1")
			l, err := handle(t, a.link).LinkByIndex(a.dev.Index())
			if err != nil || l.Attrs().MTU != mtu-80 {
				t.Fatalf("overlay mtu = %v (%v), want %d", l.Attrs().MTU, err, mtu-80)
			}
			d, err := b.dev.Device()
			if err != nil {
				t.Fatal(err)
			}
			if d.ListenPort != 51821 || d.PublicKey != b.key.PublicKey() || len(d.Peers) != 1 {
				t.Fatalf("device = %+v", d)
			}
			p := d.Peers[0]
			if p.Endpoint == nil || p.Endpoint.String() != "10.99.0.1:51820" || p.LastHandshakeTime.IsZero() || p.ReceiveBytes == 0 {
				t.Fatalf("peer = %+v", p)
			}
			// The UDP socket is in the socket namespace, not the link namespace.
			if err := exec.Command("nsenter", "--net="+a.sock.Path(), "sh", "-c", "grep -q ':CA6C ' /proc/net/udp /proc/net/udp6").Run(); err != nil {
				t.Fatalf("no socket on 51820 in the socket namespace: %v", err)
			}
		})
	}
}

// A peer-only partial update (add a peer, remove nobody) keeps the existing session.
func TestPartialUpdateKeepsSession(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := tunnel(t, Userspace, 1500)
	pollPing(t, a.link, "10.1.2.1")
	before, _ := a.dev.Device()
	other, _ := wgtypes.GeneratePrivateKey()
	if err := a.dev.Configure(wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: other.PublicKey(),
		AllowedIPs: []net.IPNet{ipnet("10.1.9.0/24")}}}}); err != nil {
		t.Fatal(err)
	}
	after, _ := a.dev.Device()
	if len(after.Peers) != 2 {
		t.Fatalf("peers after add = %d", len(after.Peers))
	}
	for _, p := range after.Peers {
		if p.PublicKey == b.key.PublicKey() && !p.LastHandshakeTime.Equal(before.Peers[0].LastHandshakeTime) {
			t.Fatalf("handshake changed by a partial update: %v → %v", before.Peers[0].LastHandshakeTime, p.LastHandshakeTime)
		}
	}
	if err := ping(t, a.link, "10.1.2.1"); err != nil {
		t.Fatalf("ping after partial update: %v", err)
	}
}

func TestKernelTunnel(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	if err := Probe(ns); err != nil {
		testkit.MissingKernelFeature(t, "wireguard kernel module", err)
	}
	a, b := tunnel(t, Kernel, 1500)
	pollPing(t, a.link, "10.1.2.1")
	pollPing(t, b.link, "10.1.1.1")
}

func itoa(i int) string { return fmtInt(i) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
