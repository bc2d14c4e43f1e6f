package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
)

// serveTCP runs a TCP service answering banner on port (scenario.Mesh.ServeTCP)
// until cleanup.
func serveTCP(t *testing.T, m *scenario.Mesh, where, inNS string, port int, banner string) {
	t.Helper()
	stop, err := m.ServeTCP(where, inNS, port, banner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

// dialTCP is scenario.Mesh.DialTCP.
func dialTCP(ctx context.Context, m *scenario.Mesh, where, inNS string, addr netip.Addr, port int) (string, error) {
	return m.DialTCP(ctx, where, inNS, addr, port)
}

// globalAddr6 returns the first global IPv6 address of a link on a node.
func globalAddr6(ctx context.Context, m *scenario.Mesh, node, dev string) (netip.Addr, error) {
	out, err := m.Run(ctx, node, "ip", "-j", "-6", "addr", "show", "dev", dev, "scope", "global")
	if err != nil {
		return netip.Addr{}, err
	}
	var links []struct {
		AddrInfo []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return netip.Addr{}, fmt.Errorf("ip -j addr: %w", err)
	}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			return netip.ParseAddr(a.Local)
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: no global IPv6 on %s", node, dev)
}

// TestWorkloadPublicIP: the farmer's pool gives a workload on farm1 (public NIC) a
// public IPv4, and farm1's public /64 an IPv6: from `internet` a TCP service in it
// answers on both; the node's host (a service listening on br-pub's address) and a
// private workload of the same network stay unreachable from `internet` and, through
// the public workload, from `farmgw`; a spoofed source from the public interface is
// dropped; a hidden node is refused; removal frees the pool address.
func TestWorkloadPublicIP(t *testing.T) {
	m := upMesh(t)
	ctx := context.Background()
	const port = 8080
	if err := m.Zosnet(ctx, nil, "farm", "public-ips", "add", lab.GridFarm, "203.0.113.50/24", "203.0.113.51/24",
		"--gateway", "203.0.113.1", "--profile", "farmer"); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"farm1", "home1"}
	n, err := m.CreateNetwork(ctx, "pubnet", "10.120.0.0/16", nodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second); err != nil {
		t.Fatalf("network %s did not come up: %v", n.ID, err)
	}
	err = m.Zosnet(ctx, nil, "workload", "add", n.ID, "home1", "nope", "--public-ipv4")
	if err == nil || !strings.Contains(err.Error(), "hidden") {
		t.Fatalf("public workload on hidden home1: %v, want a refusal naming it hidden", err)
	}
	start := time.Now()
	if err := m.Zosnet(ctx, nil, "workload", "add", n.ID, "farm1", "pub", "--public-ipv4", "--public-ipv6"); err != nil {
		t.Fatal(err)
	}
	if err := m.Zosnet(ctx, nil, "workload", "add", n.ID, "farm1", "priv"); err != nil {
		t.Fatal(err)
	}
	pub, err := gridWorkload(ctx, m, n.ID, "farm1", "pub", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := gridWorkload(ctx, m, n.ID, "farm1", "priv", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var w gridapi.Workload
	if err := m.Zosnet(ctx, &w, "workload", "show", n.ID, "pub"); err != nil {
		t.Fatal(err)
	}
	if w.Report.PublicIPv4 != "203.0.113.50/24" || w.Report.PublicIPv6 == "" {
		t.Fatalf("pub's report %+v: want public_ipv4 203.0.113.50/24 and a public ipv6", w.Report)
	}
	pub4 := netip.MustParseAddr("203.0.113.50")
	p6, err := netip.ParsePrefix(w.Report.PublicIPv6)
	if err != nil || !netip.MustParsePrefix("2001:db8:100::/64").Contains(p6.Addr()) {
		t.Fatalf("pub's public ipv6 %q (err %v): want an address of 2001:db8:100::/64", w.Report.PublicIPv6, err)
	}
	pub6 := p6.Addr()

	serveTCP(t, m, "farm1", pub.Netns, port, "pub")
	serveTCP(t, m, "farm1", priv.Netns, port, "priv")
	serveTCP(t, m, "farm1", "", port, "host")
	for _, a := range []netip.Addr{pub4, pub6} {
		err := scenario.Poll(ctx, 30*time.Second, func() error {
			got, err := dialTCP(ctx, m, "internet", "", a, port)
			if err == nil && got != "pub" {
				err = fmt.Errorf("answer %q, want pub", got)
			}
			return err
		})
		if err != nil {
			t.Fatalf("internet → pub's public %s: %v", a, err)
		}
	}
	t.Logf("workload add → its TCP service answers from internet on IPv4 and IPv6: %s", since(start))

	// the controls: the private workload's and the host's services do answer
	if got, err := dialTCP(ctx, m, "farm1", pub.Netns, priv.IPv4.Addr(), port); err != nil || got != "priv" {
		t.Fatalf("pub → priv over the NR: %q %v", got, err)
	}
	host6, err := globalAddr6(ctx, m, "farm1", "br-pub")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dialTCP(ctx, m, "farm1", "", host6, port); err != nil || got != "host" {
		t.Fatalf("farm1's own service on %s: %q %v", host6, got, err)
	}
	// … and not from internet, nor through the public workload from farmgw
	if got, err := dialTCP(ctx, m, "internet", "", host6, port); err == nil || got != "" {
		t.Errorf("internet reached farm1's host on %s: %q", host6, got)
	}
	subnet := priv.IPv4.Masked()
	if _, err := m.Run(ctx, "farmgw", "ip", "route", "replace", subnet.String(), "via", pub4.String()); err != nil {
		t.Fatal(err)
	}
	if got, err := dialTCP(ctx, m, "farmgw", "", priv.IPv4.Addr(), port); err == nil || got != "" {
		t.Errorf("farmgw reached priv (%s) through the public workload: %q", priv.IPv4.Addr(), got)
	}
	if _, err := m.Run(ctx, "farmgw", "ip", "route", "del", subnet.String()); err != nil {
		t.Fatal(err)
	}

	// anti-spoofing: another source address out of the public interface is dropped
	if _, err := m.Run(ctx, "farm1", "ip", "netns", "exec", pub.Netns, "ip", "addr", "add", "203.0.113.59/24", "dev", "pub0"); err != nil {
		t.Fatal(err)
	}
	ping := func(src string) error {
		_, err := m.Run(ctx, "farm1", "ip", "netns", "exec", pub.Netns, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", "-I", src, "203.0.113.1")
		return err
	}
	if err := ping(pub4.String()); err != nil {
		t.Fatalf("pub → its gateway from its own address: %v", err)
	}
	if err := ping("203.0.113.59"); err == nil {
		t.Error("a spoofed source left the public interface")
	}

	if err := m.Zosnet(ctx, nil, "workload", "rm", n.ID, "pub"); err != nil {
		t.Fatal(err)
	}
	err = scenario.Poll(ctx, 60*time.Second, func() error {
		if _, err := dialTCP(ctx, m, "internet", "", pub4, port); err == nil {
			return fmt.Errorf("%s still answers", pub4)
		}
		if ok, err := hasNetns(ctx, m, "farm1", pub.Netns); err != nil || ok {
			return fmt.Errorf("%s still on farm1 (%v)", pub.Netns, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var pool []gridapi.PublicIP
	if err := m.Zosnet(ctx, &pool, "farm", "public-ips", "list", lab.GridFarm); err != nil {
		t.Fatal(err)
	}
	for _, p := range pool {
		if p.Workload != "" {
			t.Errorf("pool address %s still used by %s after removal", p.IP, p.Workload)
		}
	}
}
