package public_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/lab"
	zlink "github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/wg"
	"github.com/zosnet/zosnet/internal/workload"
)

// upLab brings up the default farm under a name unique to this process.
func upLab(t testing.TB) *lab.Lab {
	t.Helper()
	name := fmt.Sprintf("up%x", os.Getpid()&0xffffff)
	ctx := context.Background()
	l, err := lab.Up(ctx, nil, lab.Options{Name: name})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), name); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// labNode is one lab node driven in-process: its network namespace is the node's host
// namespace; ndmz, public and the NR namespaces live in a private netns dir.
type labNode struct {
	name string
	ns   *netns.NS
	dir  string
	up   *public.Uplinks
	app  *resource.Applier
	att  *workload.Attacher
	key  wgtypes.Key
	zos  netip.Prefix
}

func openNS(t testing.TB, path string) *netns.NS {
	t.Helper()
	ns, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func netnsDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// bootNode does what netinit will: bridge zos with eth0 (and its MAC), SLAAC and a
// DHCP lease on it. Then it builds the uplinks with no public config.
func bootNode(t testing.TB, l *lab.Lab, name string) *labNode {
	t.Helper()
	n := &labNode{name: name, ns: openNS(t, fmt.Sprintf("/proc/%d/ns/net", l.NodePID(name))), dir: netnsDir(t)}
	makeZos(t, n.ns)
	ctx := context.Background()
	p, _, err := l.Lease(ctx, name, "zos", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n.zos = p
	n.app = &resource.Applier{Host: n.ns, SockNS: n.ns, NetnsDir: n.dir, WGKind: wg.Userspace}
	n.att = &workload.Attacher{Host: n.ns, NetnsDir: n.dir}
	n.up = &public.Uplinks{Host: n.ns, NetnsDir: n.dir, App: n.app} // the default probe, as networkd
	t.Cleanup(func() {
		n.app.Close()
		if err := n.app.GC(nil); err != nil {
			t.Errorf("%s: gc: %v", name, err)
		}
		if err := n.up.Remove(); err != nil {
			t.Errorf("%s: remove uplinks: %v", name, err)
		}
	})
	if n.key, err = wgtypes.GeneratePrivateKey(); err != nil {
		t.Fatal(err)
	}
	if err := n.up.Apply(ctx, nil, nil); err != nil {
		t.Fatalf("%s: uplinks: %v", name, err)
	}
	return n
}

func makeZos(t testing.TB, ns *netns.NS) {
	t.Helper()
	h := testkit.Handle(t, ns)
	eth, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "zos", HardwareAddr: eth.Attrs().HardwareAddr}}
	if err := h.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	zos, _ := h.LinkByName("zos")
	if err := h.LinkSetMaster(eth, zos); err != nil {
		t.Fatal(err)
	}
	err = zlink.Set(ns, zlink.IPv6("zos", zlink.Sysctls{"accept_ra": "2", "autoconf": "1", "accept_dad": "0"}).With(
		zlink.IPv6("eth0", zlink.Sysctls{"disable_ipv6": "1"})))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []netlink.Link{eth, zos} {
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// nr applies network resource s with its uplink and attaches one workload.
func (n *labNode) nr(t testing.TB, s nodeapi.NRSpec, wl string) (nodeapi.Workload, *netns.NS) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := n.app.Apply(s, n.key); err != nil {
		t.Fatal(err)
	}
	nrNS := openNS(t, filepath.Join(n.dir, resource.NamesOf(s.NetworkID).NS))
	if err := n.up.DMZ().Attach(nrNS, s.NetworkID); err != nil {
		t.Fatal(err)
	}
	info, err := workload.Plan(s, nodeapi.WorkloadSpec{Name: wl, NetworkID: s.NetworkID, Kind: nodeapi.KindNetns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.att.Attach(info); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.att.Detach(info) })
	return info, openNS(t, filepath.Join(n.dir, info.Netns))
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// listen opens a TCP listener on port in ns that accepts and closes connections.
func listen(t testing.TB, ns *netns.NS, port int) {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", ":"+strconv.Itoa(port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// dialTCP reports whether a TCP connection from ns to dst:port is accepted.
func dialTCP(t testing.TB, ns *netns.NS, dst netip.Addr, port int, timeout time.Duration) bool {
	t.Helper()
	var c net.Conn
	err := ns.Do(func() error {
		testkit.RefuseInit(t)
		var err error
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(dst, uint16(port)).String(), timeout)
		return err
	})
	if err == nil {
		c.Close()
		return true
	}
	var ne net.Error
	if !errors.As(err, &ne) && !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.EHOSTUNREACH) && !errors.Is(err, unix.ENETUNREACH) {
		t.Logf("dial %s:%d: %v", dst, port, err)
	}
	return false
}

// globalAddr returns the first global address of family v6/v4 on link in ns.
func globalAddr(t testing.TB, ns *netns.NS, link string, v6 bool) netip.Addr {
	t.Helper()
	h, err := zlink.Handle(ns) // closed at once: waitGlobal polls this
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatalf("%s: %v", link, err)
	}
	fam := netlink.FAMILY_V4
	if v6 {
		fam = netlink.FAMILY_V6
	}
	as, _ := h.AddrList(l, fam)
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
		if ip.IsGlobalUnicast() && !(ip.Is6() && ip.IsPrivate()) && a.Flags&unix.IFA_F_TENTATIVE == 0 {
			return ip
		}
	}
	return netip.Addr{}
}

// waitGlobal polls for globalAddr.
func waitGlobal(t testing.TB, ns *netns.NS, link string, v6 bool, timeout time.Duration) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if a := globalAddr(t, ns, link, v6); a.IsValid() {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("no global address on %s in %s after %s", link, ns.Path(), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// udpEcho runs a UDP echo server on port in ns until the test ends.
func udpEcho(t testing.TB, ns *netns.NS, port int) {
	t.Helper()
	var c net.PacketConn
	if err := ns.Do(func() error {
		var err error
		c, err = net.ListenPacket("udp", ":"+strconv.Itoa(port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
}

// udpAnswers reports whether a datagram from ns to dst:port gets an answer in time.
func udpAnswers(t testing.TB, ns *netns.NS, dst netip.Addr, port int, timeout time.Duration) bool {
	t.Helper()
	var c net.Conn
	if err := ns.Do(func() error {
		testkit.RefuseInit(t)
		var err error
		c, err = net.Dial("udp", netip.AddrPortFrom(dst, uint16(port)).String())
		return err
	}); err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("probe")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	return err == nil && n > 0
}
