package networkd_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// listenIn accepts (and closes) TCP connections on port inside the namespace at path.
func listenIn(t *testing.T, path string, port int) {
	t.Helper()
	ns, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp", ":"+strconv.Itoa(port)); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// dialFrom connects from the namespace at path; nil when it connected within 1 s.
func dialFrom(t *testing.T, path string, to netip.AddrPort) error {
	t.Helper()
	ns, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp", to.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// TestGatewayFirewall: with a gateway firewall, the node's own connections from an NR
// namespace reach only that network's backends (ping still works); the table survives
// a restart and a resync, and the zero value removes it.
func TestGatewayFirewall(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	wire(t, a, b, 1500)
	a.start(t)
	b.start(t)
	meshPair(t, a, b, "net1")
	wb := addWL(t, b, "net1", "wb")
	wlB := filepath.Join(b.netnsDir(), wb.Netns)
	nrA := filepath.Join(a.netnsDir(), "n-net1")
	listenIn(t, wlB, 8080)
	listenIn(t, wlB, 9090)
	pollPing(t, wlB, netip.MustParseAddr("10.1.1.1"), 10*time.Second) // b speaks first (hidden)
	allowed, other := netip.AddrPortFrom(wb.IPv4.Addr(), 8080), netip.AddrPortFrom(wb.IPv4.Addr(), 9090)
	if err := dialFrom(t, nrA, other); err != nil {
		t.Fatalf("before any gateway firewall: %v", err)
	}
	g := nodeapi.GatewayFirewall{TCPPorts: []uint16{80, 443}, Backends: map[string][]string{"net1": {"tcp:" + allowed.String()}}}
	if err := a.cl.SetGatewayFirewall(bg, g); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if err := dialFrom(t, nrA, allowed); err != nil {
			t.Fatalf("%s: the backend is not reachable: %v", when, err)
		}
		if err := dialFrom(t, nrA, other); err == nil {
			t.Fatalf("%s: a port that is no backend is reachable", when)
		}
		pollPing(t, nrA, wb.IPv4.Addr(), 5*time.Second)
	}
	check("applied")
	a.stop(t)
	a.start(t)
	got, err := a.cl.GatewayFirewall(bg)
	if err != nil || len(got.Backends["net1"]) != 1 {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	check("after a restart")
	ns, err := netns.Open(nrA)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if out := testkit.NFTList(t, ns, "inet", "zosnet-gateway"); !strings.Contains(out, allowed.Addr().String()+" . tcp . 8080") {
		t.Fatalf("gateway table:\n%s", out)
	}
	if err := a.cl.SetGatewayFirewall(bg, nodeapi.GatewayFirewall{}); err != nil {
		t.Fatal(err)
	}
	if err := dialFrom(t, nrA, other); err != nil {
		t.Fatalf("after removing the gateway firewall: %v", err)
	}
	if err := a.cl.SetGatewayFirewall(bg, nodeapi.GatewayFirewall{Backends: map[string][]string{"net1": {"10.1.2.3:80"}}}); err == nil ||
		!strings.Contains(err.Error(), "backends[net1][0]") {
		t.Fatalf("a bad backend: %v", err)
	}
}
