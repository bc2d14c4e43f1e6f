package public_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/dnsfwd"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/ndmz"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// target is a destination a workload tries, with a TCP listener and a UDP echo on
// probePort in its namespace (so "refused" is the egress rule, not a closed port).
type target struct {
	name string
	ns   *netns.NS
	addr netip.Addr
}

// TestEgressRule: workloads on farm1 (two NICs), farm3 (OOB only), home1 (IPv4-only
// home) and home6 (dual-stack home) are refused — fast (TCP reset, ICMP prohibited),
// ICMP, TCP and UDP alike — towards the farmer's host, farmgw's, homegw's and
// home6gw's LAN addresses, a neighbour on the home LAN and its global IPv6, and their
// node's own address; the internet stays reachable over IPv4 and, where the segment
// has it, IPv6; the refused packets are counted per NR; an allow-listed farm address
// becomes reachable on its port and only there.
func TestEgressRule(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t)
	for _, h := range []string{"farmer", "farmgw", "homegw", "home6gw", "neighbour", "registry"} {
		ns := openNS(t, l.NSPath(h))
		listen(t, ns, probePort)
		udpEcho(t, ns, probePort)
	}
	at := func(host, addr string) target {
		return target{host + " " + addr, openNS(t, l.NSPath(host)), netip.MustParseAddr(addr)}
	}
	farm := []target{at("farmer", "10.201.0.10"), at("farmgw", "10.201.0.1")}
	for _, tt := range []struct {
		node    string
		v6      bool
		refused []target
	}{
		{"farm1", true, farm},
		{"farm3", false, farm},
		{"home1", false, []target{at("homegw", "172.29.1.1")}},
		{"home6", true, []target{at("home6gw", "172.29.6.1"), at("home6gw", "2001:db8:600::1"),
			at("neighbour", "172.29.6.20"), at("neighbour", "2001:db8:600::20")}},
	} {
		t.Run(tt.node, func(t *testing.T) {
			n := bootNode(t, l, tt.node)
			_, wns := n.nr(t, oneNR("net1", "10.1.1.0/24", 3001), "w1")
			testkit.PollPing(t, wns, registry4, 10*time.Second)
			if tt.v6 {
				testkit.PollPing(t, wns, registry6, 10*time.Second)
			}
			for _, x := range tt.refused { // control: the LAN itself reaches the target
				if !dialTCP(t, n.ns, x.addr, probePort, time.Second) && !x.addr.Is6() {
					t.Fatalf("control: the node's host cannot reach %s: the test is broken", x.name)
				}
			}
			own := target{"the node's own zos address", n.ns, n.zos.Addr()}
			refusedAll(t, wns, append(slices.Clone(tt.refused), own))
			if !dialTCP(t, wns, registry4, probePort, 2*time.Second) || !udpAnswers(t, wns, registry4, probePort, 2*time.Second) {
				t.Errorf("the internet (%s) is not reachable over TCP and UDP", registry4)
			}
			if tt.v6 && !dialTCP(t, wns, registry6, probePort, 2*time.Second) {
				t.Errorf("the internet (%s) is not reachable over IPv6", registry6)
			}
			resolves(t, n, wns)
			refused, err := n.up.DMZ().Refused()
			if err != nil || refused["net1"] < uint64(3*len(tt.refused)) {
				t.Errorf("refused counter of net1 = %v (%v), want at least %d", refused, err, 3*len(tt.refused))
			}
			if deny := n.up.DMZ().DenyList(); !slices.Contains(deny, netip.PrefixFrom(n.zos.Addr(), 32)) || !slices.Contains(deny, n.zos.Masked()) {
				t.Errorf("deny list %v lacks the node's own address %s or its LAN", deny, n.zos)
			}
		})
	}
	t.Run("farm2 allow list and lease change", func(t *testing.T) {
		n := bootNode(t, l, "farm2")
		_, wns := n.nr(t, oneNR("net1", "10.1.1.0/24", 3001), "w1")
		testkit.PollPing(t, wns, registry4, 10*time.Second)
		a, err := nodeapi.ParseEgressAllow("10.201.0.10/32:8080/tcp")
		if err != nil {
			t.Fatal(err)
		}
		if err := n.up.SetAllow([]nodeapi.EgressAllow{a}); err != nil {
			t.Fatal(err)
		}
		if !dialTCP(t, wns, netip.MustParseAddr("10.201.0.10"), probePort, 2*time.Second) {
			t.Error("the allow-listed farmer:8080/tcp is refused")
		}
		refusedAll(t, wns, []target{farm[1]}) // farmgw: not on the list
		if testkit.Ping(t, wns, farm[0].addr) == nil || udpAnswers(t, wns, farm[0].addr, probePort, time.Second) {
			t.Error("the farmer answers ICMP or UDP: the allow list names TCP 8080 only")
		}
		if err := n.up.SetAllow(nil); err != nil {
			t.Fatal(err)
		}
		refusedAll(t, wns, farm[:1])
		leaseFollows(t, l, n)
	})
}

// refusedAll checks that every target refuses wns's TCP (reset: ECONNREFUSED, not a
// timeout), UDP (an ICMP error: ECONNREFUSED on read) and ICMP echo.
func refusedAll(t *testing.T, wns *netns.NS, ts []target) {
	t.Helper()
	var wg sync.WaitGroup
	for _, x := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := dialErr(t, wns, x.addr); !errors.Is(err, unix.ECONNREFUSED) {
				t.Errorf("TCP to %s: %v, want refused at once (reset)", x.name, err)
			}
			if err := udpErr(t, wns, x.addr); !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EHOSTUNREACH) {
				t.Errorf("UDP to %s: %v, want an ICMP error at once", x.name, err)
			}
			if err := testkit.Ping(t, wns, x.addr); err == nil {
				t.Errorf("ICMP to %s: answered", x.name)
			}
		}()
	}
	wg.Wait()
}

// dialErr returns the error of a TCP connection from ns to addr:probePort (bounded by
// 5 s so a dropped SYN shows as a timeout, not a hang).
func dialErr(t *testing.T, ns *netns.NS, addr netip.Addr) error {
	var err error
	ns.Do(func() error {
		testkit.RefuseInit(t)
		var c net.Conn
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(addr, probePort).String(), 5*time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	return err
}

// udpErr sends a datagram from ns to addr:probePort and returns the read's error (nil
// when the echo answered; a timeout after 3 s when nothing came back).
func udpErr(t *testing.T, ns *netns.NS, addr netip.Addr) error {
	var c net.Conn
	if err := ns.Do(func() error {
		testkit.RefuseInit(t)
		var err error
		c, err = net.Dial("udp", netip.AddrPortFrom(addr, probePort).String())
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("probe")); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 16))
	return err
}

// leaseFollows: after the OOB DHCP range changes and the node takes a new lease, the
// deny list follows (the new address is refused, the old one is gone from it).
func leaseFollows(t *testing.T, l *lab.Lab, n *labNode) {
	old := n.zos.Addr()
	if err := l.SetDHCP("oob", true, "10.201.0.200-10.201.0.250"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.SetDHCP("oob", true, "10.201.0.100-10.201.0.199") })
	h := testkit.Handle(t, n.ns)
	zos, err := h.LinkByName("zos")
	if err != nil {
		t.Fatal(err)
	}
	as, _ := h.AddrList(zos, unix.AF_INET)
	for _, a := range as {
		h.AddrDel(zos, &a)
	}
	p, _, err := l.Lease(t.Context(), n.name, "zos", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if b := p.Addr().As4(); p.Addr() == old || b[3] < 200 || b[3] > 250 {
		t.Fatalf("new lease %s, want one in the new range (old %s)", p, old)
	}
	changed, err := n.up.RefreshEgress()
	if err != nil || !changed {
		t.Fatalf("refresh after the new lease: changed=%v err=%v", changed, err)
	}
	deny := n.up.DMZ().DenyList()
	if !slices.Contains(deny, netip.PrefixFrom(p.Addr(), 32)) || slices.Contains(deny, netip.PrefixFrom(old, 32)) {
		t.Errorf("deny list after the new lease %s (old %s): %v", p.Addr(), old, deny)
	}
}

// resolves runs the workloads' DNS forwarder in n's ndmz (as networkd does) with the
// resolver the lab's DHCP hands out, and checks that the workload resolves a lab name
// through nodeapi.WorkloadResolver4, over UDP and TCP, while the egress rule is on.
func resolves(t *testing.T, n *labNode, wns *netns.NS) {
	t.Helper()
	pc, ln, _, err := n.up.DMZ().ListenResolver()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 198.51.100.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dmz := openNS(t, filepath.Join(n.dir, ndmz.NS))
	f := &dnsfwd.Forwarder{ResolvConf: conf, Do: func(fn func() error) error {
		return dmz.Do(func() error { testkit.RefuseInit(t); return fn() })
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Serve(ctx, pc, ln); close(done) }()
	defer func() { cancel(); <-done }()
	for _, network := range []string{"udp", "tcp"} {
		var r *dns.Msg
		err := wns.Do(func() error {
			testkit.RefuseInit(t)
			c := &dns.Client{Net: network, Timeout: 3 * time.Second}
			var err error
			r, _, err = c.Exchange(new(dns.Msg).SetQuestion("registry.lab.", dns.TypeA), netip.AddrPortFrom(nodeapi.WorkloadResolver4, 53).String())
			return err
		})
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != registry4.String() {
			t.Errorf("%s: registry.lab over %s through %s: %v %v", n.name, network, nodeapi.WorkloadResolver4, r, err)
		}
	}
}
