package public_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/testkit"
)

func peerSpec(id, subnet string, port uint16, peer *labNode, peerSubnet, endpoint string) nodeapi.NRSpec {
	s := oneNR(id, subnet, port)
	s.Peers = []nodeapi.Peer{{PublicKey: peer.key.PublicKey().String(), Endpoint: endpoint,
		AllowedIPs: []netip.Prefix{pfx(peerSubnet)}, PersistentKeepalive: 5}}
	return s
}

func apply(t *testing.T, n *labNode, cfg *nodeapi.PublicConfig, ports ...uint16) time.Duration {
	t.Helper()
	if cfg != nil {
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := n.up.Apply(context.Background(), cfg, ports); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestPublicConfigLive: farm1 and farm2 run one network whose tunnel goes over the
// public segment's IPv6. While a ping crosses it, farm1's farmer sets a public config
// (IPv4 only: IPv6 by SLAAC in `public`), changes it (other IPv4 plus static IPv6) and
// removes it. After each step the sockets are where they should be, the endpoints
// follow, and the ping resumes without restarting anything. Once the config is set,
// farm2 also reaches farm1 over IPv4 at the public address.
func TestPublicConfigLive(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	f1, f2 := bootNode(t, l, "farm1"), bootNode(t, l, "farm2")
	v6a := waitGlobal(t, f1.ns, public.Bridge, true, 10*time.Second)
	v6b := waitGlobal(t, f2.ns, public.Bridge, true, 10*time.Second)
	w1, _ := f1.nr(t, peerSpec("net1", "10.1.1.0/24", 3001, f2, "10.1.2.0/24", netip.AddrPortFrom(v6b, 3002).String()), "w1")
	s2 := peerSpec("net1", "10.1.2.0/24", 3002, f1, "10.1.1.0/24", netip.AddrPortFrom(v6a, 3001).String())
	_, w2ns := f2.nr(t, s2, "w2")
	apply(t, f1, nil, 3001)
	apply(t, f2, nil, 3002)
	dst := w1.IPv4.Addr()
	t.Logf("tunnel up after %s", testkit.PollPing(t, w2ns, dst, 15*time.Second))

	cfg1 := &nodeapi.PublicConfig{IPv4: pfx("203.0.113.10/24"), GW4: netip.MustParseAddr("203.0.113.1")}
	t.Logf("set: applied in %s", apply(t, f1, cfg1, 3001))
	sock := f1.up.SocketNS()
	checkSockets(t, f1, sock, "public")
	t.Logf("set: ping resumed after %s", testkit.PollPing(t, w2ns, dst, 20*time.Second))
	waitGlobal(t, sock, public.Leg, true, 10*time.Second)
	wantEndpoints(t, f1, "203.0.113.10", "2001:db8:100::/64")

	s2.Peers[0].Endpoint = "203.0.113.10:3001" // farm2 now uses farm1's public IPv4
	if err := f2.app.Apply(s2, f2.key); err != nil {
		t.Fatal(err)
	}
	t.Logf("over IPv4: ping after %s", testkit.PollPing(t, w2ns, dst, 20*time.Second))

	cfg2 := &nodeapi.PublicConfig{IPv4: pfx("203.0.113.11/24"), GW4: netip.MustParseAddr("203.0.113.1"),
		IPv6: pfx("2001:db8:100::11/64"), GW6: netip.MustParseAddr("2001:db8:100::1")}
	t.Logf("change: applied in %s", apply(t, f1, cfg2, 3001))
	checkSockets(t, f1, f1.up.SocketNS(), "public")
	t.Logf("change: ping resumed after %s", testkit.PollPing(t, w2ns, dst, 20*time.Second))
	wantEndpoints(t, f1, "203.0.113.11", "2001:db8:100::11/128")
	for _, e := range f1.up.Status().Endpoints {
		if e.Addr.String() == "203.0.113.10" {
			t.Errorf("old address 203.0.113.10 still an endpoint after the change")
		}
	}

	t.Logf("unset: applied in %s", apply(t, f1, nil, 3001))
	checkSockets(t, f1, f1.ns, "host")
	t.Logf("unset: ping resumed after %s", testkit.PollPing(t, w2ns, dst, 20*time.Second))
	wantEndpoints(t, f1, "", "2001:db8:100::/64")
	if _, err := netns.OpenNamed(f1.dir, public.NS); err == nil {
		t.Error("public namespace still exists after unset")
	}
}

func checkSockets(t *testing.T, n *labNode, want *netns.NS, name string) {
	t.Helper()
	if n.app.SockNSPath() != want.Path() {
		t.Fatalf("sockets in %s, want %s", n.app.SockNSPath(), want.Path())
	}
	if st := n.up.Status(); st.SocketNamespace != name || st.Hidden {
		t.Fatalf("status socket namespace %q hidden %v, want %q and not hidden", st.SocketNamespace, st.Hidden, name)
	}
}

// wantEndpoints checks that an IPv4 endpoint v4 (when set) and an IPv6 one inside p6 exist.
func wantEndpoints(t *testing.T, n *labNode, v4, p6 string) {
	t.Helper()
	st := n.up.Status()
	var got4, got6 bool
	for _, e := range st.Endpoints {
		got4 = got4 || e.Addr.String() == v4
		got6 = got6 || pfx(p6).Contains(e.Addr)
	}
	if (v4 != "" && !got4) || !got6 {
		t.Fatalf("endpoints %+v: want %q and one in %s", st.Endpoints, v4, p6)
	}
}
