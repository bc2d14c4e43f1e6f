// Package dhcptest builds throwaway DHCP topologies for root tests: veth pairs created
// directly inside test namespaces and a real dnsmasq serving one of their ends. Every
// object is removed in t.Cleanup, also when the test fails.
package dhcptest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// Veth creates a veth pair with end a in nsA and end b in nsB, both up, b with MAC
// macB (nil: random). The pair goes away with either namespace.
func Veth(t testing.TB, nsA *netns.NS, a string, nsB *netns.NS, b string, macB net.HardwareAddr) {
	t.Helper()
	h, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: a, Namespace: netlink.NsFd(nsA.Fd())},
		PeerName:         b,
		PeerNamespace:    netlink.NsFd(nsB.Fd()),
		PeerHardwareAddr: macB,
	}
	if err := h.LinkAdd(v); err != nil {
		t.Fatalf("create veth %s/%s: %v", a, b, err)
	}
	for _, end := range []struct {
		ns   *netns.NS
		name string
	}{{nsA, a}, {nsB, b}} {
		SetUp(t, end.ns, end.name, true)
	}
}

// SetUp sets a link administratively up or down.
func SetUp(t testing.TB, ns *netns.NS, name string, up bool) {
	t.Helper()
	h := testkit.Handle(t, ns)
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	if up {
		err = h.LinkSetUp(l)
	} else {
		err = h.LinkSetDown(l)
	}
	if err != nil {
		t.Fatalf("set %s up=%v: %v", name, up, err)
	}
}

// AddAddr adds an address to a link.
func AddAddr(t testing.TB, ns *netns.NS, name, cidr string) {
	t.Helper()
	h := testkit.Handle(t, ns)
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("add %s to %s: %v", cidr, name, err)
	}
}

// Server describes a dnsmasq DHCP server on one interface.
type Server struct {
	Iface string
	// Range is "first,last" of the pool, e.g. "10.5.0.100,10.5.0.150".
	Range string
	// NoRouter sends no router option; else dnsmasq sends its own address.
	NoRouter bool
	// Ping keeps dnsmasq's default address probe (3 s per offer); else --no-ping.
	Ping bool
	// DNS, when valid, is sent as the name server option.
	DNS netip.Addr
}

// Dnsmasq is a running dnsmasq; Stop kills and reaps it (also done at cleanup).
type Dnsmasq struct {
	cmd  *exec.Cmd
	Dir  string
	done chan struct{}
}

// StartDnsmasq starts dnsmasq in ns serving s, with every file in a fresh temp dir.
func StartDnsmasq(t testing.TB, ns *netns.NS, s Server) *Dnsmasq {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--keep-in-foreground", "--dhcp-authoritative", "--port=0", "-C", "/dev/null",
		"--user=root", "--pid-file=" + filepath.Join(dir, "pid"), "--dhcp-leasefile=" + filepath.Join(dir, "leases"),
		"--log-facility=" + filepath.Join(dir, "log"), "--log-dhcp", "--bind-interfaces",
		"--interface=" + s.Iface, "--except-interface=lo", "--dhcp-range=" + s.Range + ",255.255.255.0,2m"}
	if !s.Ping {
		args = append(args, "--no-ping")
	}
	if s.NoRouter {
		args = append(args, "--dhcp-option=3")
	}
	if s.DNS.IsValid() {
		args = append(args, "--dhcp-option=6,"+s.DNS.String())
	}
	cmd := exec.Command("dnsmasq", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := ns.Do(cmd.Start); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	d := &Dnsmasq{cmd: cmd, Dir: dir, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	ready := Eventually(10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "log"))
		return strings.Contains(string(b), "DHCP, sockets bound")
	})
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Logf("dnsmasq log (%s):\n%s", s.Iface, b)
		}
	})
	if !ready {
		t.Fatalf("dnsmasq on %s not ready within 10 s", s.Iface)
	}
	return d
}

// Stop kills dnsmasq and waits for it to exit.
func (d *Dnsmasq) Stop() {
	d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(os.Stderr, "dnsmasq did not exit in 5 s")
	}
}

// Eventually polls cond every 50 ms until it is true or timeout passes.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
