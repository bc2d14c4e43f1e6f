package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/nat"
	"github.com/zosnet/zosnet/internal/nft"
	"github.com/zosnet/zosnet/internal/testkit"
)

// natRouters are the NAT grid's routers with a NAT of their own.
var natRouters = []string{"easygw", "fullgw", "addrgw", "hardgw", "onegw", "cgngw", "cghome"}

// TestNATRouterTablesGolden: each NAT grid router's ruleset as `nft list ruleset`
// prints it (no root; TestNATRouterTablesInKernel checks the kernel lists the same).
func TestNATRouterTablesGolden(t *testing.T) {
	s := NATSpec()
	for _, r := range natRouters {
		testkit.Golden(t, "testdata/nat-"+r+".nft", nft.Render(routerTables(s, s.router(r))...))
	}
}

// TestNATRouterTablesInKernel applies each NAT grid router's tables and conntrack
// timeouts in a throwaway namespace: the kernel lists exactly the golden file, re-applying
// changes nothing, and the UDP conntrack timeouts are the spec's.
func TestNATRouterTablesInKernel(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	s := NATSpec()
	for _, r := range natRouters {
		n := &nsh{name: r, ns: testkit.NewNS(t)}
		for range 2 {
			if err := applyNFT(n, s, s.router(r)); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Command("nsenter", "--net="+n.ns.Path(), "nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: nft list ruleset: %v: %s", r, err, out)
		}
		testkit.SameAsGolden(t, "testdata/nat-"+r+".nft", string(out))
		for _, key := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
			var b []byte
			err := n.ns.Do(func() (err error) {
				b, err = os.ReadFile(filepath.Join("/proc/sys/net/netfilter", key))
				return err
			})
			if err != nil || strings.TrimSpace(string(b)) != "30" {
				t.Errorf("%s: %s = %q (%v), want 30", r, key, b, err)
			}
		}
	}
}

// udpIn opens a UDP socket bound to port in a lab namespace.
func udpIn(t *testing.T, l *Lab, name string, port int) *net.UDPConn {
	t.Helper()
	n, err := l.openNode(name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	var c *net.UDPConn
	err = n.ns.Do(func() (err error) {
		testkit.RefuseInit(t)
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("%s: udp :%d: %v", name, port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg from c to dst until reader gets a datagram whose text is msg
// (polling, 100 ms per try, up to 5 s) and returns its source; other datagrams read
// meanwhile are returned as extra.
func exchange(t *testing.T, c, reader *net.UDPConn, dst netip.AddrPort, msg string) (src netip.AddrPort, extra []string) {
	t.Helper()
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if _, err := c.WriteToUDPAddrPort([]byte(msg), dst); err != nil {
			t.Fatalf("send %q to %s: %v", msg, dst, err)
		}
		reader.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, from, err := reader.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if got := string(buf[:n]); got == msg {
				return from, extra
			} else {
				extra = append(extra, got)
			}
		}
	}
	t.Fatalf("%q to %s never arrived", msg, dst)
	return
}

// TestNATTypesBehave brings the NAT grid up and checks, by real packets, that every
// hidden node's NAT behaves as its type (nat.Type.Behavior): the node sends from port
// 51820 to probe1 and probe2; the mapped endpoints they see are the same port exactly
// when the mapping is endpoint-independent; then probe1 from another port (address-
// dependent filtering lets it in) and probe3, which the node never talked to (only
// endpoint-independent filtering lets it in), send to the endpoint probe1 saw. A
// forbidden probe is sent before an allowed one: the allowed one arriving first with
// no forbidden one before it shows the NAT dropped it.
func TestNATTypesBehave(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	l := upLab(t, NATSpec(), Options{Name: testkit.Name("nt")})
	ctx := context.Background()
	p1, p1b := udpIn(t, l, "probe1", 3478), udpIn(t, l, "probe1", 3479)
	p2, p3 := udpIn(t, l, "probe2", 3478), udpIn(t, l, "probe3", 3478)
	probe1 := netip.MustParseAddrPort("198.51.100.31:3478")
	probe2 := netip.MustParseAddrPort("198.51.100.32:3478")
	nodes := slices.Sorted(func(yield func(string) bool) {
		for n := range NATNodes {
			if !yield(n) {
				return
			}
		}
	})
	for _, node := range nodes {
		t.Run(node, func(t *testing.T) {
			want, _ := NATNodes[node].Type.Behavior()
			if _, _, err := l.Lease(ctx, node, "eth0", 15*time.Second); err != nil {
				t.Fatal(err)
			}
			c := udpIn(t, l, node, 51820)
			m1, _ := exchange(t, c, p1, probe1, "to probe1 from "+node)
			m2, _ := exchange(t, c, p2, probe2, "to probe2 from "+node)
			t.Logf("%s (%s): probe1 sees %s, probe2 sees %s", node, NATNodes[node].Type, m1, m2)
			if m1.Addr().IsPrivate() || m1.Addr() != m2.Addr() {
				t.Errorf("mapped addresses %s and %s: want one public address", m1, m2)
			}
			if sameMapping := m1 == m2; sameMapping != (want.Mapping != nat.MapDependent) {
				t.Errorf("mapping: same endpoint towards two probes is %v, type %s maps %s", sameMapping, NATNodes[node].Type, want.Mapping)
			}
			for _, f := range []struct {
				from *net.UDPConn
				name string
				in   bool
			}{
				{p1b, "probe1:3479", want.Filtering <= nat.FilterAddress},
				{p3, "probe3", want.Filtering <= nat.FilterIndependent},
			} {
				forbidden := fmt.Sprintf("from %s to %s", f.name, node)
				if _, err := f.from.WriteToUDPAddrPort([]byte(forbidden), m1); err != nil {
					t.Fatal(err)
				}
				if f.in {
					exchange(t, f.from, c, m1, forbidden)
					continue
				}
				_, extra := exchange(t, p1, c, m1, "from probe1 to "+node)
				if slices.Contains(extra, forbidden) {
					t.Errorf("%s got in: filtering is looser than %s", f.name, want.Filtering)
				}
			}
		})
	}
}
