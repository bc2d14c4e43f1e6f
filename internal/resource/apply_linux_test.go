package resource_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/wg"
	"github.com/zosnet/zosnet/internal/workload"
)

// node is a throwaway "host" namespace with its own netns dir and an applier.
type node struct {
	host *netns.NS
	dir  string
	app  *resource.Applier
	att  *workload.Attacher
	key  wgtypes.Key
}

func netnsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) }) // runs after the namespaces are gone
	return dir
}

func newNode(t *testing.T) *node { return newNodeB(t) }

func newNodeB(t testing.TB) *node {
	t.Helper()
	n := &node{host: testkit.NewNS(t), dir: netnsDir(t)}
	n.app = &resource.Applier{Host: n.host, SockNS: n.host, NetnsDir: n.dir, WGKind: wg.Userspace}
	n.att = &workload.Attacher{Host: n.host, NetnsDir: n.dir}
	if os.Getenv("ZOSNET_TEST_DEBUG") != "" {
		n.app.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	t.Cleanup(func() {
		n.app.Close()
		if err := n.app.GC(nil); err != nil {
			t.Errorf("gc: %v", err)
		}
	})
	var err error
	if n.key, err = wgtypes.GeneratePrivateKey(); err != nil {
		t.Fatal(err)
	}
	return n
}

// wire joins two hosts with a veth underlay of the given MTU: 10.99.0.1 and .2.
func wire(t *testing.T, a, b *node, mtu int) { t.Helper(); testkit.Underlay(t, a.host, b.host, mtu) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// pair returns the specs of one network on node a (public, 10.1.1.0/24) and node b
// (10.1.2.0/24, no endpoint for a: b is reached once a... no: a is hidden from b's side).
func pair(a, b *node) (nodeapi.NRSpec, nodeapi.NRSpec) {
	sa := nodeapi.NRSpec{NetworkID: "net1", IPRange: pfx("10.1.0.0/16"), Subnet: pfx("10.1.1.0/24"), ListenPort: 4001,
		Peers: []nodeapi.Peer{{PublicKey: b.key.PublicKey().String(), Endpoint: "10.99.0.2:4002",
			AllowedIPs: []netip.Prefix{pfx("10.1.2.0/24")}, PersistentKeepalive: 25}}}
	sb := nodeapi.NRSpec{NetworkID: "net1", IPRange: pfx("10.1.0.0/16"), Subnet: pfx("10.1.2.0/24"), ListenPort: 4002,
		Peers: []nodeapi.Peer{{PublicKey: a.key.PublicKey().String(),
			AllowedIPs: []netip.Prefix{pfx("10.1.1.0/24")}}}}
	return sa, sb
}

func (n *node) apply(t *testing.T, s nodeapi.NRSpec) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := n.app.Apply(s, n.key); err != nil {
		t.Fatal(err)
	}
}

func (n *node) workload(t *testing.T, nr nodeapi.NRSpec, name string) nodeapi.Workload {
	t.Helper()
	info, err := workload.Plan(nr, nodeapi.WorkloadSpec{Name: name, NetworkID: nr.NetworkID, Kind: nodeapi.KindNetns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.att.Attach(info); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.att.Detach(info) })
	return info
}

func (n *node) wlNS(t *testing.T, info nodeapi.Workload) *netns.NS {
	t.Helper()
	ns, err := netns.OpenNamed(n.dir, info.Netns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func pollPing(t *testing.T, ns *netns.NS, dst netip.Addr) {
	t.Helper()
	testkit.PollPing(t, ns, dst, 10*time.Second)
}

func nsExists(dir, name string) bool {
	ns, err := netns.OpenNamed(dir, name)
	if err == nil {
		ns.Close()
	}
	return err == nil
}

func TestTwoNodesWorkloadsPing(t *testing.T) {
	testkit.RequireRoot(t)
	for _, mtu := range []int{1400, 1500} {
		t.Run(fmt.Sprint("mtu", mtu), func(t *testing.T) {
			testkit.LeakCheck(t)
			a, b := newNode(t), newNode(t)
			wire(t, a, b, mtu)
			sa, sb := pair(a, b)
			b.apply(t, sb) // the hidden side first: a's first handshake then finds b ready
			a.apply(t, sa)
			wa, wb := a.workload(t, sa, "wa"), b.workload(t, sb, "wb")
			nsA, nsB := a.wlNS(t, wa), b.wlNS(t, wb)
			pollPing(t, nsA, wb.IPv4.Addr())
			pollPing(t, nsB, wa.IPv4.Addr())
			pollPing(t, nsA, wb.IPv6.Addr())
			h := testkit.Handle(t, a.host)
			br, err := h.LinkByName("b-net1")
			if err != nil || br.Attrs().MTU != mtu-resource.WGOverhead {
				t.Fatalf("bridge mtu %v (%v), want %d", br.Attrs().MTU, err, mtu-resource.WGOverhead)
			}
			d, kind, err := a.app.Device("net1")
			if err != nil || kind != wg.Userspace || d.ListenPort != 4001 || d.Peers[0].LastHandshakeTime.IsZero() {
				t.Fatalf("device %+v kind %s err %v", d, kind, err)
			}
		})
	}
}

// Re-applying the same spec changes nothing; a peer-only update keeps the link and the
// session; objects deleted behind our back come back on the next apply.
func TestApplyIdempotentPartialRepair(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	wire(t, a, b, 1500)
	sa, sb := pair(a, b)
	b.apply(t, sb) // the hidden side first: a's first handshake then finds b ready
	a.apply(t, sa)
	wa, wb := a.workload(t, sa, "wa"), b.workload(t, sb, "wb")
	nsA := a.wlNS(t, wa)
	pollPing(t, nsA, wb.IPv4.Addr())
	nrNS, err := netns.OpenNamed(a.dir, "n-net1")
	if err != nil {
		t.Fatal(err)
	}
	defer nrNS.Close()
	hn := testkit.Handle(t, nrNS)
	link := func() netlink.Link {
		l, err := hn.LinkByName("w-net1")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	idx := link().Attrs().Index
	before, _, _ := a.app.Device("net1")

	a.apply(t, sa) // idempotent
	other, _ := wgtypes.GeneratePrivateKey()
	sa.Peers = append(sa.Peers, nodeapi.Peer{PublicKey: other.PublicKey().String(), AllowedIPs: []netip.Prefix{pfx("10.1.3.0/24")}})
	a.apply(t, sa) // peer-only update
	after, _, _ := a.app.Device("net1")
	if link().Attrs().Index != idx || len(after.Peers) != 2 {
		t.Fatalf("peer-only update: index %d→%d, peers %d", idx, link().Attrs().Index, len(after.Peers))
	}
	for _, p := range after.Peers {
		if p.PublicKey == b.key.PublicKey() && !p.LastHandshakeTime.Equal(before.Peers[0].LastHandshakeTime) {
			t.Fatal("peer-only update restarted the session of an untouched peer")
		}
	}
	if err := testkit.Ping(t, nsA, wb.IPv4.Addr()); err != nil {
		t.Fatalf("after peer-only update: %v", err)
	}
	routes, _ := hn.RouteList(link(), netlink.FAMILY_ALL)
	if n := countProto(routes); n != 4 {
		t.Fatalf("routes via w-net1 = %d, want 4 (2 peers × v4+v6)", n)
	}

	// Behind our back: the route to b and the WireGuard link go away.
	hn.RouteDel(&netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: net.IPv4(10, 1, 2, 0), Mask: net.CIDRMask(24, 32)}})
	hn.LinkDel(link())
	if err := testkit.Ping(t, nsA, wb.IPv4.Addr()); err == nil {
		t.Fatal("ping passed with the tunnel deleted")
	}
	a.apply(t, sa)
	pollPing(t, nsA, wb.IPv4.Addr())

	// Drop the extra peer: its routes go, the rest stays.
	sa.Peers = sa.Peers[:1]
	a.apply(t, sa)
	routes, _ = hn.RouteList(link(), netlink.FAMILY_ALL)
	if n := countProto(routes); n != 2 {
		t.Fatalf("routes after peer removal = %d, want 2", n)
	}
}

func countProto(rs []netlink.Route) int {
	n := 0
	for _, r := range rs {
		if r.Protocol == resource.RouteProto {
			n++
		}
	}
	return n
}

func TestRemoveAndRollback(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	sa, _ := pair(a, b)
	a.apply(t, sa)
	if err := a.app.Remove("net1"); err != nil {
		t.Fatal(err)
	}
	if err := a.app.Remove("net1"); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if nsExists(a.dir, "n-net1") {
		t.Fatal("n-net1 still there after remove")
	}
	if _, err := testkit.Handle(t, a.host).LinkByName("b-net1"); err == nil {
		t.Fatal("b-net1 still there after remove")
	}

	// A port held by someone else in the socket namespace makes the create fail:
	// nothing of the NR may stay behind.
	var conn *net.UDPConn
	a.host.Do(func() (err error) {
		conn, err = net.ListenUDP("udp", &net.UDPAddr{Port: 4001})
		return err
	})
	if conn == nil {
		t.Fatal("could not hold port 4001")
	}
	defer conn.Close()
	err := a.app.Apply(sa, a.key)
	if err == nil {
		t.Fatal("apply with a busy port succeeded")
	}
	if nsExists(a.dir, "n-net1") {
		t.Fatalf("failed create left n-net1 (err was %v)", err)
	}
	if _, err := testkit.Handle(t, a.host).LinkByName("b-net1"); err == nil {
		t.Fatal("failed create left b-net1")
	}
	if ids, _ := a.app.Existing(); len(ids) != 0 {
		t.Fatalf("failed create left %v", ids)
	}
}

func TestGCOnlyOurs(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	sa, _ := pair(a, b)
	a.apply(t, sa)
	s2 := sa
	s2.NetworkID, s2.ListenPort = "net2", 4009
	a.apply(t, s2)
	foreign, err := netns.Create(a.dir, "foreign")
	if err != nil {
		t.Fatal(err)
	}
	foreign.Close()
	defer netns.Delete(a.dir, "foreign")
	if err := a.app.GC(map[string]bool{"net2": true}); err != nil {
		t.Fatal(err)
	}
	if nsExists(a.dir, "n-net1") || !nsExists(a.dir, "n-net2") || !nsExists(a.dir, "foreign") {
		t.Fatal("gc removed the wrong namespaces")
	}
	if ids, _ := a.app.Existing(); len(ids) != 1 || ids[0] != "net2" {
		t.Fatalf("after gc: %v", ids)
	}
}

// The NR's nftables table, read back with `nft list` as the oracle, and restored when
// deleted behind our back.
func TestNFTablesOracle(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	sa, _ := pair(a, b)
	a.apply(t, sa)
	path := filepath.Join(a.dir, "n-net1")
	list := func() string {
		out, err := exec.Command("nsenter", "--net="+path, "nft", "list", "table", "inet", resource.NFTTable).CombinedOutput()
		if err != nil {
			return ""
		}
		return string(out)
	}
	got := list()
	for _, want := range []string{"type filter hook forward priority filter; policy drop;",
		"ct state established,related accept", `iifname "b-net1" accept`,
		`iifname "w-net1" oifname "b-net1" accept`, `iifname "w-net1" oifname "w-net1" accept`} {
		if !strings.Contains(got, want) {
			t.Fatalf("nft list lacks %q:\n%s", want, got)
		}
	}
	testkit.SameAsGolden(t, "testdata/nr.nft", got) // the kernel holds what the golden test shows
	ns, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	c.DelTable(&nftables.Table{Name: resource.NFTTable, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if list() != "" {
		t.Fatal("table still listed after delete")
	}
	a.apply(t, sa)
	if list() != got {
		t.Fatalf("table not restored as before:\n%s", list())
	}
}
