package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// upLab brings a lab up under a unique name and takes it down when the test ends.
func upLab(t *testing.T, s *Spec, o Options) *Lab {
	t.Helper()
	if o.Name == "" {
		o.Name = testkit.Name("lb")
	}
	ctx := context.Background()
	l, err := Up(ctx, s, o)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Cleanup(func() {
		if err := Down(ctx, o.Name); err != nil {
			t.Errorf("down: %v", err)
		}
		assertGone(t, o.Name)
	})
	return l
}

// assertGone checks that nothing of the lab is left: processes, namespaces, state.
func assertGone(t *testing.T, name string) {
	t.Helper()
	if pids := labPIDs(name); len(pids) > 0 {
		t.Errorf("lab %s: processes left: %v", name, pids)
	}
	all, _ := netns.List("")
	for _, n := range all {
		if strings.HasPrefix(n, name+"-") {
			t.Errorf("lab %s: namespace left: %s", name, n)
		}
	}
	if _, err := os.Stat(labDir(name)); !os.IsNotExist(err) {
		t.Errorf("lab %s: state dir left (%v)", name, err)
	}
}

func run(t *testing.T, l *Lab, node string, argv ...string) string {
	t.Helper()
	cmd, err := l.Command(context.Background(), node, argv...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %v: %s", node, argv, err, out)
	}
	return string(out)
}

func TestUpStatusOpenDown(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t, nil, Options{})
	st := l.Status()
	var names []string
	for _, n := range st.Nodes {
		if !n.Running {
			t.Errorf("node %s not running", n.Name)
		}
		names = append(names, n.Name)
	}
	if want := []string{"farm1", "farm2", "farm3", "home1", "home2", "home6"}; !slices.Equal(names, want) {
		t.Errorf("nodes %v, want %v", names, want)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Errorf("status is not JSON-able: %v", err)
	}
	o, err := Open(l.Name())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if got := o.Status(); len(got.Nodes) != 6 || got.Nodes[0].NICs[1].MAC != "02:5a:4c:00:01:01" {
		t.Errorf("opened lab status: %+v", got.Nodes)
	}
	// Every router and host can be entered by name.
	for _, r := range []string{"internet", "farmgw", "homegw", "home6gw", "registry", "user", "farmer"} {
		if out := run(t, o, r, "cat", "/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(out) == "" {
			t.Errorf("%s: no output", r)
		}
	}
	if _, err := Up(context.Background(), nil, Options{Name: l.Name()}); err == nil || !strings.Contains(err.Error(), "already up") {
		t.Errorf("second Up with the same name: %v, want 'already up'", err)
	}
	assertHostRoute(t, "198.51.100.0/24", true)

	stale := testkit.Name("lb")
	if _, err := netns.Create("", stale+"-farmgw"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete("", stale+"-farmgw") })
	if _, err := Up(context.Background(), nil, Options{Name: stale}); err == nil || !strings.Contains(err.Error(), "earlier lab") {
		t.Errorf("Up over a stale namespace: %v, want 'earlier lab'", err)
	}
	if _, err := os.Stat(labDir(stale)); err == nil {
		t.Error("refused Up left its state dir")
	}
}

func assertHostRoute(t *testing.T, prefix string, want bool) {
	t.Helper()
	h, err := hostHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	got := false
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == prefix && r.Type == syscall.RTN_UNREACHABLE {
			got = true
		}
	}
	if got != want {
		t.Errorf("host unreachable route %s present = %v, want %v", prefix, got, want)
	}
}

// TestNodeIsolation: a node sees its own cmdline, hostname, /run, state dir and links,
// and daemons in two nodes can create namespaces of the same name.
func TestNodeIsolation(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t, nil, Options{})
	for _, node := range []string{"farm1", "farm3"} {
		got := run(t, l, node, "sh", "-c", "cat /proc/cmdline; hostname; ls /sys/class/net | tr '\\n' ' '; cat /run/zoslab-node; echo $$")
		want := DefaultSpec().node(node).Cmdline + "\n" + node + "\n"
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: got %q, want prefix %q", node, got, want)
		}
		nics := "eth0 lo "
		if node == "farm1" {
			nics = "eth0 eth1 lo "
		}
		if !strings.Contains(got, nics) {
			t.Errorf("%s: /sys/class/net is not the node's: %q", node, got)
		}
		run(t, l, node, tool("ip"), "netns", "add", "ndmz")
		run(t, l, node, "sh", "-c", "echo hello > "+NodeStateDir+"/probe")
		b, err := os.ReadFile(filepath.Join(l.NodeDir(node), "state", "probe"))
		if err != nil || string(b) != "hello\n" {
			t.Errorf("%s: state dir not shared with the host dir: %q %v", node, b, err)
		}
	}
	if _, err := os.Stat("/run/netns/ndmz"); err == nil {
		t.Error("a node's namespace appeared in the host's /run/netns")
	}
}

// TestConnectivityClasses is the acceptance: the seed's connectivity classes with a
// plain DHCP client and SLAAC inside the nodes.
func TestConnectivityClasses(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t, nil, Options{})
	failed := l.CheckClasses(context.Background(), func(r CheckResult) {
		if r.OK() {
			t.Logf("PASS %s (%s): %s", r.Name, r.Took, r.Detail)
		} else {
			t.Errorf("FAIL %s: %s", r.Name, r.Detail)
		}
	})
	if failed > 0 {
		t.Fatalf("%d checks failed", failed)
	}
}

// TestDownAfterKilledHalfUp kills a process in the middle of Up (after the NICs, before
// the servers are recorded), then checks Down removes everything.
func TestDownAfterKilledHalfUp(t *testing.T) {
	if name := os.Getenv("ZOSLAB_TEST_HALFUP"); name != "" {
		testHookStep = func(step string) {
			if step == "servers" {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		Up(context.Background(), nil, Options{Name: name})
		t.Fatal("Up returned; it should have been killed")
	}
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	name := testkit.Name("lh")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDownAfterKilledHalfUp$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ZOSLAB_TEST_HALFUP="+name)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed: %v: %s", err, out)
	}
	if len(labPIDs(name)) == 0 {
		t.Fatal("the half-up lab has no processes: the test proves nothing")
	}
	if _, err := Open(name); err != nil {
		t.Logf("open half-up lab: %v", err)
	}
	if err := Down(context.Background(), name); err != nil {
		t.Fatalf("down: %v", err)
	}
	assertGone(t, name)
}

// TestTwoLabs: two labs coexist; taking one down leaves the other working.
func TestTwoLabs(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	s, err := ParseSpec([]byte(miniSpec))
	if err != nil {
		t.Fatal(err)
	}
	a := upLab(t, s, Options{})
	b := upLab(t, s, Options{})
	ctx := context.Background()
	if err := Down(ctx, a.Name()); err != nil {
		t.Fatal(err)
	}
	assertGone(t, a.Name())
	p, gw, err := b.Lease(ctx, "n1", "eth0", 10*time.Second)
	if err != nil || !gw.IsValid() {
		t.Fatalf("lease in the remaining lab: %s %s %v", p, gw, err)
	}
	if err := b.Ping(ctx, "n1", netip.MustParseAddr("198.51.100.10"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	assertHostRoute(t, "10.9.0.0/24", true)
}

// netinitSpec has what netinit's tests need: a late DHCP server, DHCP without router
// option, a NIC without carrier.
const netinitSpec = `
segments:
  - name: wan
    ipv4: 198.51.100.0/24
  - name: late
    ipv4: 10.7.1.0/24
    gateway: gw
    dhcp: {enabled: true, delay: 2s}
  - name: norouter
    ipv4: 10.7.2.0/24
    gateway: gw
    dhcp: {enabled: true, router: false}
  - name: good
    ipv4: 10.7.3.0/24
    gateway: gw
    dhcp: {enabled: true, range: 10.7.3.64/26}
    mtu: 1400
routers:
  - name: gw
    interfaces:
      - {segment: wan, ipv4: 198.51.100.2/24}
      - {segment: late, ipv4: 10.7.1.1/24}
      - {segment: norouter, ipv4: 10.7.2.1/24}
      - {segment: good, ipv4: 10.7.3.1/24}
nodes:
  - name: n1
    nics:
      - {segment: late}
      - {segment: norouter}
      - {segment: good, carrier: false}
`

func TestNetinitSpec(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	s, err := ParseSpec([]byte(netinitSpec))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l := upLab(t, s, Options{})
	ctx := context.Background()

	t.Run("late server", func(t *testing.T) {
		p, gw, err := l.Lease(ctx, "n1", "eth0", 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if since := time.Since(start); since < 2*time.Second {
			t.Errorf("lease after %s, before the server's 2s delay", since)
		}
		if !strings.HasPrefix(p.String(), "10.7.1.") || gw.String() != "10.7.1.1" {
			t.Errorf("lease %s router %s", p, gw)
		}
	})
	t.Run("no router option", func(t *testing.T) {
		p, gw, err := l.Lease(ctx, "n1", "eth1", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if gw.IsValid() || !strings.HasPrefix(p.String(), "10.7.2.") {
			t.Errorf("lease %s router %s, want a 10.7.2.x lease without router", p, gw)
		}
	})
	t.Run("no carrier", func(t *testing.T) {
		n, err := l.openNode("n1")
		if err != nil {
			t.Fatal(err)
		}
		defer n.close()
		link, err := n.h.LinkByName("eth2")
		if err != nil {
			t.Fatal(err)
		}
		if link.Attrs().MTU != 1400 {
			t.Errorf("eth2 mtu %d, want the segment's 1400", link.Attrs().MTU)
		}
		if err := n.h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
		if err := waitCarrier(n, "eth2", false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.Lease(ctx, "n1", "eth2", 2*time.Second); err == nil {
			t.Error("lease without carrier")
		}
		if err := l.SetCarrier("n1", "eth2", true); err != nil {
			t.Fatal(err)
		}
		if err := waitCarrier(n, "eth2", true); err != nil {
			t.Fatal(err)
		}
		p, _, err := l.Lease(ctx, "n1", "eth2", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if a := p.Addr().As4(); a[2] != 3 || a[3] < 65 || a[3] > 126 {
			t.Errorf("lease %s outside the range 10.7.3.64/26", p)
		}
		if !l.Status().Nodes[0].NICs[2].Carrier {
			t.Error("status does not show the carrier")
		}
	})
	t.Run("set dhcp", func(t *testing.T) {
		if err := l.SetDHCP("norouter", false, ""); err != nil {
			t.Fatal(err)
		}
		run(t, l, "n1", tool("ip"), "addr", "flush", "dev", "eth1")
		if _, _, err := l.Lease(ctx, "n1", "eth1", 2*time.Second); err == nil {
			t.Error("lease with the server off")
		}
		if err := l.SetDHCP("norouter", true, "10.7.2.200-10.7.2.210"); err != nil {
			t.Fatal(err)
		}
		p, _, err := l.Lease(ctx, "n1", "eth1", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if a := p.Addr().As4(); a[3] < 200 || a[3] > 210 {
			t.Errorf("lease %s outside the new range", p)
		}
		if err := l.SetDHCP("wan", true, ""); err == nil {
			t.Error("SetDHCP on a segment without gateway succeeded")
		}
	})
}

func waitCarrier(n *nsh, nic string, want bool) error {
	return poll(context.Background(), 5*time.Second, func() bool {
		l, err := n.h.LinkByName(nic)
		return err == nil && (l.Attrs().RawFlags&syscall.IFF_RUNNING != 0) == want
	})
}

// TestBoot: services of the boot list start in the node in order, netinit must exit 0,
// the others keep running until Down.
func TestBoot(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	bin := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("netinit", `{ cat /proc/cmdline; hostname; echo "$ZOSNET_NODE $ZOSNET_STATE_DIR"; } > /var/lib/zosnet/netinit.out; echo netinit ran`)
	write("networkd", `echo networkd started; exec sleep 300`)
	s, err := ParseSpec([]byte(miniSpec + "    boot: [netinit, networkd, provisiond]\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := upLab(t, s, Options{BinDir: bin, Boot: true})
	dir := filepath.Join(l.NodeDir("n1"), "state")
	b, err := os.ReadFile(filepath.Join(dir, "netinit.out"))
	if want := "farmer_id=7\nn1\nn1 /var/lib/zosnet\n"; err != nil || string(b) != want {
		t.Errorf("netinit saw %q (%v), want %q", b, err, want)
	}
	if err := poll(context.Background(), 5*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "log", "networkd.log"))
		return string(b) == "networkd started\n"
	}); err != nil {
		t.Errorf("networkd log: %v", err)
	}
	if out := run(t, l, "n1", tool("ps"), "-eo", "comm"); !strings.Contains(out, "sleep") {
		t.Errorf("networkd does not run in the node: %s", out)
	}

	write("netinit", "echo no gateway found >&2; exit 3\n")
	bad := testkit.Name("lb")
	_, err = Up(context.Background(), s, Options{Name: bad, BinDir: bin, Boot: true})
	if err == nil || !strings.Contains(err.Error(), "netinit") || !strings.Contains(err.Error(), "no gateway found") {
		t.Errorf("Up with a failing netinit: %v, want the error with the end of its log", err)
	}
	assertGone(t, bad)
}

// TestCommandRefusesUnknown: bad names fail with the name in the error.
func TestCommandRefusesUnknown(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	s, _ := ParseSpec([]byte(miniSpec))
	l := upLab(t, s, Options{})
	if _, err := l.Command(context.Background(), "nosuch", "true"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("Command on unknown node: %v", err)
	}
	if err := l.SetCarrier("n1", "eth9", true); err == nil || !strings.Contains(err.Error(), "eth9") {
		t.Errorf("SetCarrier unknown NIC: %v", err)
	}
	if err := l.SetDHCP("nosuch", true, ""); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("SetDHCP unknown segment: %v", err)
	}
	if err := l.SetDHCP("lan", true, "10.1.0.0/24"); err == nil || !strings.Contains(err.Error(), "range") {
		t.Errorf("SetDHCP bad range: %v", err)
	}
	if _, err := Open("nosuch"); err == nil {
		t.Error("Open of a lab that is not up succeeded")
	}
}

// TestReboot: a rebooted node comes back with the same NICs and state directory, and
// without anything its software made; its boot services run again.
func TestReboot(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "netinit"), []byte("#!/bin/sh\necho boot >> /var/lib/zosnet/boots\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpec([]byte(miniSpec + "    boot: [netinit]\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{BinDir: bin, Boot: true}
	l := upLab(t, s, o)
	ctx := context.Background()
	if _, _, err := l.Lease(ctx, "n1", "eth0", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	run(t, l, "n1", tool("ip"), "netns", "add", "ndmz")
	before := l.NodePID("n1")
	if err := l.Reboot(ctx, "n1", o); err != nil {
		t.Fatal(err)
	}
	if l.NodePID("n1") == before {
		t.Error("same holder after reboot")
	}
	b, _ := os.ReadFile(filepath.Join(l.NodeDir("n1"), "state", "boots"))
	if string(b) != "boot\nboot\n" {
		t.Errorf("boots file %q: state dir lost or netinit not run again", b)
	}
	out := run(t, l, "n1", "sh", "-c", "ls /run/netns 2>/dev/null; cat /sys/class/net/eth0/address /sys/class/net/eth1/address")
	if strings.Contains(out, "ndmz") || out != "02:5a:4c:00:01:00\n02:5a:4c:00:01:01\n" {
		t.Errorf("after reboot: %q (want no ndmz, the NICs' MACs)", out)
	}
	sw, err := openNSH("switch", l.switchPath("lan"))
	if err != nil {
		t.Fatal(err)
	}
	defer sw.close()
	if p, err := sw.h.LinkByName(nodePort("n1", 1)); err != nil || p.Attrs().Flags&net.FlagUp != 0 {
		t.Errorf("eth1's switch port after reboot: %v (want it down: no carrier)", err)
	}
	if st := l.Status(); len(st.Nodes[0].NICs[0].Addrs) != 0 || !st.Nodes[0].Running {
		t.Errorf("after reboot: %+v", st.Nodes[0])
	}
	if _, _, err := l.Lease(ctx, "n1", "eth0", 10*time.Second); err != nil {
		t.Fatalf("lease after reboot: %v", err)
	}
	if o2, err := Open(l.Name()); err != nil || o2.NodePID("n1") != l.NodePID("n1") {
		t.Errorf("state after reboot: %v", err)
	}
	// A dead node whose namespace the kernel has not torn down yet (here: pinned by an
	// open handle, as a slow teardown on a busy machine leaves it) still reboots: its
	// switch ports are unplugged after portGrace, and the new node gets a lease.
	pin, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", l.NodePID("n1")))
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()
	if err := l.Reboot(ctx, "n1", o); err != nil {
		t.Fatalf("reboot with the old namespace pinned: %v", err)
	}
	if _, _, err := l.Lease(ctx, "n1", "eth0", 10*time.Second); err != nil {
		t.Fatalf("lease after a reboot with the old namespace pinned: %v", err)
	}
}
