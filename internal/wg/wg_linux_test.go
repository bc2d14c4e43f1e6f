package wg

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

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
	h := testkit.Handle(t, s.link)
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

// pollPing waits up to 10 s for an echo reply from dst (an overlay address) in ns.
func pollPing(t *testing.T, ns *netns.NS, dst string) {
	t.Helper()
	testkit.PollPing(t, ns, netip.MustParseAddr(dst), 10*time.Second)
}

func tunnel(t *testing.T, kind Kind, mtu int) (*side, *side) {
	a, b := newSide(t, kind, mtu), newSide(t, kind, mtu)
	testkit.Underlay(t, a.sock, b.sock, mtu)
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
			l, err := testkit.Handle(t, a.link).LinkByIndex(a.dev.Index())
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
	if err := testkit.Ping(t, a.link, netip.MustParseAddr("10.1.2.1")); err != nil {
		t.Fatalf("ping after partial update: %v", err)
	}
}

func TestKernelTunnel(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	if err := Probe(ns); errors.Is(err, ErrNoKernel) {
		testkit.MissingKernelFeature(t, "wireguard kernel module", err)
	} else if err != nil {
		t.Fatalf("probe failed for another reason than a missing module: %v", err)
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
