package boot

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/dhcp/dhcptest"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// farm is a throwaway topology: a node namespace whose NICs eth<i> are veths to
// interfaces f<i> (10.<i>.0.1/24) of one farm namespace.
type farm struct {
	node, farm *netns.NS
}

func newFarm(t *testing.T, nics int) *farm {
	t.Helper()
	f := &farm{node: testkit.NewNS(t), farm: testkit.NewNS(t)}
	for i := range nics {
		fi, ei := "f"+string(rune('0'+i)), "eth"+string(rune('0'+i))
		dhcptest.Veth(t, f.farm, fi, f.node, ei, net.HardwareAddr{2, 0, 0, 0, 0x10, byte(i)})
		dhcptest.AddAddr(t, f.farm, fi, "10."+string(rune('0'+i))+".0.1/24")
	}
	return f
}

// registry serves /v1/health on the farm side at addr (listening in the farm namespace).
func (f *farm) registry(t testing.TB, addr string) *url.URL {
	t.Helper()
	var ln net.Listener
	if err := f.farm.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &url.URL{Scheme: "http", Host: addr}
}

func run(t *testing.T, o Options, d time.Duration) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	o.Log = testLog()
	o.ProbeRound, o.MaxBackoff = 4*time.Second, 4*time.Second
	return Run(ctx, o)
}

func linkIn(t *testing.T, ns *netns.NS, name string) netlink.Link {
	t.Helper()
	l, err := testkit.Handle(t, ns).LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

func hasLink(t *testing.T, ns *netns.NS, name string) bool {
	_, err := testkit.Handle(t, ns).LinkByName(name)
	return err == nil
}

func v4(t *testing.T, ns *netns.NS, name string) []string {
	as, err := testkit.Handle(t, ns).AddrList(linkIn(t, ns, name), unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.IPNet.String())
	}
	return out
}

func sysctl(t *testing.T, ns *netns.NS, p string) string {
	var b []byte
	ns.Do(func() (err error) { b, err = os.ReadFile(p); return err })
	return strings.TrimSpace(string(b))
}

// TestThreeNICs: eth0 has no DHCP, eth1 DHCP with a router, eth2 DHCP without the
// router option, eth3 no carrier. netinit picks eth1, builds zos around it, and a
// second run changes nothing.
func TestThreeNICs(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 4)
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f1", Range: "10.1.0.100,10.1.0.150"})
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f2", Range: "10.2.0.100,10.2.0.150", NoRouter: true})
	dhcptest.SetUp(t, f.farm, "f3", false)
	reg := f.registry(t, "10.1.0.1:8080")
	dhcptest.AddAddr(t, f.node, "eth1", "192.0.2.77/24") // left from an earlier boot: moves to nowhere
	o := Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg}}
	res, err := run(t, o, 40*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.NIC != "eth1" || !res.Lease.HasGateway() || res.Reused {
		t.Fatalf("chose %s (lease %v, reused %v), want eth1", res.NIC, res.Lease, res.Reused)
	}
	br, eth1 := linkIn(t, f.node, Bridge), linkIn(t, f.node, "eth1")
	if br.Type() != "bridge" || eth1.Attrs().MasterIndex != br.Attrs().Index ||
		br.Attrs().HardwareAddr.String() != eth1.Attrs().HardwareAddr.String() {
		t.Fatalf("zos %s mac %s, eth1 master %d mac %s", br.Type(), br.Attrs().HardwareAddr, eth1.Attrs().MasterIndex, eth1.Attrs().HardwareAddr)
	}
	if a := v4(t, f.node, Bridge); len(a) != 1 || !strings.HasPrefix(a[0], "10.1.0.") {
		t.Fatalf("zos addresses %v", a)
	}
	for _, n := range []string{"eth0", "eth1", "eth2", "eth3"} {
		if a := v4(t, f.node, n); len(a) != 0 {
			t.Fatalf("%s kept addresses %v", n, a)
		}
	}
	if gw, ok := defaultGateway(testkit.Handle(t, f.node), br); !ok || gw != netip.MustParseAddr("10.1.0.1") {
		t.Fatalf("default route via %v (%v), want 10.1.0.1 on zos", gw, ok)
	}
	if v := sysctl(t, f.node, "/proc/sys/net/ipv6/conf/zos/accept_ra"); v != "2" {
		t.Fatalf("zos accept_ra = %q, want 2", v)
	}
	again, err := run(t, o, 20*time.Second)
	if err != nil || !again.Reused || again.NIC != "eth1" || again.Config.Addr != res.Config.Addr {
		t.Fatalf("second run: %+v, %v; want it to reuse eth1 with %v", again, err, res.Config.Addr)
	}
}

func TestStaticWithoutDHCP(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 1)
	dhcptest.AddAddr(t, f.farm, "f0", "10.9.0.1/24")
	reg := f.registry(t, "10.9.0.1:8080")
	st, err := cmdline.ParseStatic("10.9.0.5/24,10.9.0.1,10.9.0.53")
	if err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	res, err := run(t, Options{NS: f.node, ResolvConf: resolv, Cmdline: cmdline.Config{Registry: reg, Static: st}}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.NIC != "eth0" || res.Lease != nil {
		t.Fatalf("static result %+v", res)
	}
	if a := v4(t, f.node, Bridge); len(a) != 1 || a[0] != "10.9.0.5/24" {
		t.Fatalf("zos addresses %v", a)
	}
	if b, _ := os.ReadFile(resolv); !strings.Contains(string(b), "nameserver 10.9.0.53") {
		t.Fatalf("resolv.conf %q", b)
	}
}

// TestLateServer: the DHCP server starts late (10 s here, across a probe round and a
// backoff; TestLabIssueCases does the 60 s in the lab; 5 s with -short);
// netinit keeps retrying and comes up once it does.
func TestLateServer(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	delay := 10 * time.Second
	if testing.Short() {
		delay = 5 * time.Second
	}
	f := newFarm(t, 1)
	reg := f.registry(t, "10.0.0.1:8080")
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	start := time.Now()
	go func() {
		res, err := run(t, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg}}, delay+60*time.Second)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		t.Fatalf("netinit finished before the server started: %+v %v", o.res, o.err)
	case <-time.After(delay): // the scenario: the server is late
	}
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f0", Range: "10.0.0.100,10.0.0.150"})
	o := <-done
	if o.err != nil || o.res.NIC != "eth0" {
		t.Fatalf("after the late server: %+v, %v", o.res, o.err)
	}
	t.Logf("up %v after start, %v after the server", time.Since(start), time.Since(start)-delay)
}

// TestFailsCleanly: errors that retrying cannot fix stop netinit and leave the node as
// it was.
func TestFailsCleanly(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 2)
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f0", Range: "10.0.0.100,10.0.0.150"})
	if _, err := run(t, Options{NS: f.node}, 10*time.Second); err == nil || !strings.Contains(err.Error(), "zosnet.registry") {
		t.Fatalf("no registry: %v", err)
	}
	reg := &url.URL{Scheme: "http", Host: "10.0.0.1:8080"}
	// vlan:priv=100 with no DHCP on VLAN 100: a kernel without 802.1Q stops at once
	// (ErrNoVLAN); one with it probes eth0.100 and eth1.100 until the deadline. Either
	// way nothing is left behind.
	_, err := run(t, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg, VLANPriv: 100}}, 6*time.Second)
	switch {
	case errors.Is(err, ErrNoVLAN):
		if !strings.Contains(err.Error(), "vlan:priv=100") {
			t.Fatalf("no 802.1Q: the error does not name vlan:priv=100: %v", err)
		}
		t.Logf("this kernel has no 802.1Q links: %v", err)
	case err == nil || !strings.Contains(err.Error(), "deadline"):
		t.Fatalf("vlan:priv=100 without DHCP on VLAN 100: %v", err)
	default: // internal/e2e's TestSuiteOnStockKernel looks for this line
		t.Logf("this kernel has 802.1Q links: vlan:priv=100 probed until the deadline: %v", err)
	}
	if hasLink(t, f.node, "eth1.100") {
		t.Fatal("a failed run left a VLAN link behind")
	}
	if hasLink(t, f.node, Bridge) || hasLink(t, f.node, "eth0.100") {
		t.Fatal("a failed run left zos or a VLAN link behind")
	}
	_, err = run(t, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg, NIC: "eth7"}}, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("forced missing NIC: %v", err)
	}
	for _, n := range []string{"eth0", "eth1"} {
		if a := v4(t, f.node, n); len(a) != 0 || linkIn(t, f.node, n).Attrs().MasterIndex != 0 {
			t.Fatalf("%s changed by failed runs: %v", n, a)
		}
	}
}

// TestZosNotABridge: a link named zos of another type is an error, not overwritten.
func TestZosNotABridge(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 1)
	other := testkit.NewNS(t)
	dhcptest.Veth(t, f.node, Bridge, other, "peer0", nil)
	reg := &url.URL{Scheme: "http", Host: "10.0.0.1:8080"}
	_, err := run(t, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg}}, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Fatalf("zos is a veth: %v", err)
	}
}

// TestVLANKernel creates the vlan:priv link where the kernel can; it skips, naming the
// missing feature, where it cannot (this machine).
func TestVLANKernel(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 1)
	h := testkit.Handle(t, f.node)
	v, err := ensureVLAN(h, linkIn(t, f.node, "eth0"), 100)
	if errors.Is(err, ErrNoVLAN) {
		testkit.MissingKernelFeature(t, "802.1Q VLAN links", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	vl, ok := v.(*netlink.Vlan)
	if !ok || vl.VlanId != 100 || vl.ParentIndex != linkIn(t, f.node, "eth0").Attrs().Index {
		t.Fatalf("vlan link %+v", v)
	}
	if again, err := ensureVLAN(h, linkIn(t, f.node, "eth0"), 100); err != nil || again.Attrs().Index != v.Attrs().Index {
		t.Fatalf("second ensure: %v", err)
	}
}

// TestVLANBoot boots over vlan:priv=100 where the kernel has 802.1Q links (it probes by
// making the farm side's VLAN link, and skips naming the feature where that fails):
// DHCP answers only on VLAN 100 of f0, so netinit must choose eth0.100, enslave it to
// zos, keep eth0 up under it, and remove eth1.100 (a NIC not chosen).
func TestVLANBoot(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 2)
	fh := testkit.Handle(t, f.farm)
	if _, err := ensureVLAN(fh, linkIn(t, f.farm, "f0"), 100); errors.Is(err, ErrNoVLAN) {
		testkit.MissingKernelFeature(t, "802.1Q VLAN links", err)
	} else if err != nil {
		t.Fatal(err)
	}
	dhcptest.AddAddr(t, f.farm, "f0.100", "10.100.0.1/24")
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f0.100", Range: "10.100.0.100,10.100.0.150"})
	reg := f.registry(t, "10.100.0.1:8080")
	res, err := run(t, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg, VLANPriv: 100}}, 30*time.Second)
	if err != nil || res.NIC != "eth0.100" {
		t.Fatalf("vlan:priv=100: %+v, %v", res, err)
	}
	if linkIn(t, f.node, "eth0.100").Attrs().MasterIndex != linkIn(t, f.node, Bridge).Attrs().Index {
		t.Error("eth0.100 is not enslaved to zos")
	}
	if linkIn(t, f.node, "eth0").Attrs().RawFlags&unix.IFF_UP == 0 {
		t.Error("eth0 was set down under its chosen VLAN link")
	}
	if hasLink(t, f.node, "eth1.100") {
		t.Error("the VLAN link of the NIC not chosen was left behind")
	}
}

// syncBuffer is a log sink safe for the probe goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRoundLogSaysWhy: each failed round logs one line saying, per NIC, what was wrong.
func TestRoundLogSaysWhy(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 3)
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f1", Range: "10.1.0.100,10.1.0.150", NoRouter: true})
	dhcptest.SetUp(t, f.farm, "f2", false)
	var buf syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	reg := &url.URL{Scheme: "http", Host: "10.1.0.1:8080"}
	_, err := Run(ctx, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg}, ProbeRound: 1500 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if err == nil {
		t.Fatal("Run succeeded without a usable lease")
	}
	log := buf.String()
	for _, want := range []string{"round=1", "eth0: no lease (no DHCP answer)", "eth1: lease 10.1.0.", "has no default gateway", "eth2: no carrier"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	buf = syncBuffer{}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel2()
	Run(ctx2, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg, NIC: "eth2"}, Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if log := buf.String(); !strings.Contains(log, "no NIC to use") || !strings.Contains(log, "eth2: no carrier") {
		t.Errorf("forced NIC without carrier: log lacks the reason:\n%s", log)
	}
}
