package boot

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/testkit"
)

// issueSpec is a lab with the issue's cases, one node each, booting in parallel:
//   - three: eth0 on a segment without DHCP, eth1 with DHCP and router option, eth2 with
//     DHCP without router option, eth3 on the good segment but unplugged (no carrier);
//   - static: zosnet.static= on a segment without any DHCP server;
//   - late: the segment's DHCP server starts 60 s after the lab is up.
const issueSpec = `
segments:
  - {name: inet, ipv4: 198.51.100.0/24}
  - {name: none, ipv4: 10.210.0.0/24, gateway: gw}
  - {name: good, ipv4: 10.211.0.0/24, gateway: gw, dhcp: {enabled: true}}
  - {name: norouter, ipv4: 10.212.0.0/24, gateway: gw, dhcp: {enabled: true, router: false}}
  - {name: stat, ipv4: 10.213.0.0/24, gateway: gw}
  - {name: late, ipv4: 10.214.0.0/24, gateway: gw, dhcp: {enabled: true, delay: 60s}}
routers:
  - name: gw
    interfaces:
      - {segment: inet, ipv4: 198.51.100.2/24}
      - {segment: none, ipv4: 10.210.0.1/24}
      - {segment: good, ipv4: 10.211.0.1/24}
      - {segment: norouter, ipv4: 10.212.0.1/24}
      - {segment: stat, ipv4: 10.213.0.1/24}
      - {segment: late, ipv4: 10.214.0.1/24}
    nat: {mode: masquerade, out: inet, segments: [none, good, norouter, stat, late]}
hosts:
  - name: registry
    interfaces: [{segment: inet, ipv4: 198.51.100.10/24}]
    routes: [{to: default, via: 198.51.100.2}]
nodes:
  - name: three
    cmdline: farmer_id=1 zosnet.registry=https://198.51.100.10:8443
    boot: [netinit]
    nics: [{segment: none}, {segment: good}, {segment: norouter}, {segment: good, carrier: false}]
  - name: static
    cmdline: farmer_id=1 zosnet.registry=https://198.51.100.10:8443 zosnet.static=10.213.0.50/24,10.213.0.1
    boot: [netinit]
    nics: [{segment: stat}]
  - name: late
    cmdline: farmer_id=1 zosnet.registry=https://198.51.100.10:8443
    boot: [netinit]
    nics: [{segment: late}]
`

func TestLabIssueCases(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	spec, err := lab.ParseSpec([]byte(issueSpec))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l, err := upLab(t, spec, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 60*time.Second {
		t.Errorf("lab with a 60 s late DHCP server booted in %v: the late node cannot have waited", took)
	}
	cases := []struct{ node, port, net, gw string }{
		{"three", "eth1", "10.211.0.0/24", "10.211.0.1"},
		{"static", "eth0", "10.213.0.50/32", "10.213.0.1"},
		{"late", "eth0", "10.214.0.0/24", "10.214.0.1"},
	}
	for _, c := range cases {
		v := view(t, l, c.node)
		if !v.Bridge || len(v.Ports) != 1 || v.Ports[0] != c.port || len(v.IPv4) != 1 || v.Gateway != c.gw ||
			!netip.MustParsePrefix(c.net).Contains(netip.MustParsePrefix(v.IPv4[0]).Addr()) {
			t.Errorf("node %s: zos %+v, want port %s, an address in %s, gateway %s", c.node, v, c.port, c.net, c.gw)
		}
	}
}

// TestLabKeeperFollows: after netinit has exited, the keeper it left on the node keeps
// the lease: the farm's DHCP server is restarted with a new range and the node's cable
// is pulled and plugged back; the node re-acquires, in the new range.
func TestLabKeeperFollows(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	spec := lab.DefaultSpec()
	for _, n := range spec.Nodes {
		if n.Name == "farm3" {
			spec.Nodes = []lab.Node{n}
			break
		}
	}
	l, err := upLab(t, spec, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	before := view(t, l, "farm3")
	if len(before.IPv4) != 1 || !before.Keeper {
		t.Fatalf("after boot: %+v", before)
	}
	if err := l.SetDHCP("oob", true, "10.201.0.20-10.201.0.30"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetCarrier("farm3", "eth0", false); err != nil {
		t.Fatal(err)
	}
	waitView(t, l, "farm3", 10*time.Second, "zos without carrier", func(v nodeView) bool { return !v.Carrier })
	if err := l.SetCarrier("farm3", "eth0", true); err != nil {
		t.Fatal(err)
	}
	newRange := func(v nodeView) bool {
		if len(v.IPv4) != 1 || v.Gateway != "10.201.0.1" {
			return false
		}
		a := netip.MustParsePrefix(v.IPv4[0]).Addr().As4()
		return a[3] >= 20 && a[3] <= 30
	}
	waitView(t, l, "farm3", 30*time.Second, "an address in 10.201.0.20-30 only", newRange)
}

func waitView(t *testing.T, l *lab.Lab, node string, d time.Duration, what string, ok func(nodeView) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := view(t, l, node)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			var out []byte
			if cmd, err := l.Command(context.Background(), node, "cat", "/run/zosnet/"+KeeperLog); err == nil {
				out, _ = cmd.CombinedOutput()
			}
			t.Fatalf("node %s: no %s within %v: %+v\nkeeper log:\n%s", node, what, d, v, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// routersSpec: one node with a DHCP network with a router on each of its three NICs
// (0-OS's wrong-NIC bug, zos#537): eth0's router is public (192.0.2.1), eth1's and
// eth2's are private, eth2's with the lower address. netinit must choose eth2 and
// release the leases eth0 and eth1 got while probing.
const routersSpec = `
segments:
  - {name: inet, ipv4: 198.51.100.0/24}
  - {name: pubdhcp, ipv4: 192.0.2.0/24, gateway: gw, dhcp: {enabled: true}}
  - {name: oobhigh, ipv4: 10.216.0.0/24, gateway: gw, dhcp: {enabled: true}}
  - {name: ooblow, ipv4: 10.211.0.0/24, gateway: gw, dhcp: {enabled: true}}
routers:
  - name: gw
    interfaces:
      - {segment: inet, ipv4: 198.51.100.2/24}
      - {segment: pubdhcp, ipv4: 192.0.2.1/24}
      - {segment: oobhigh, ipv4: 10.216.0.1/24}
      - {segment: ooblow, ipv4: 10.211.0.1/24}
    nat: {mode: masquerade, out: inet, segments: [pubdhcp, oobhigh, ooblow]}
hosts:
  - name: registry
    interfaces: [{segment: inet, ipv4: 198.51.100.10/24}]
    routes: [{to: default, via: 198.51.100.2}]
nodes:
  - name: multi
    cmdline: farmer_id=1 zosnet.registry=https://198.51.100.10:8443
    boot: [netinit]
    nics: [{segment: pubdhcp}, {segment: oobhigh}, {segment: ooblow}]
`

// TestLabChoiceAmongRouters: with DHCP and a router on every NIC, netinit chooses by
// the documented order (private gateway, then lowest address), not by NIC order, and
// releases the leases it does not use: their servers log a DHCPRELEASE and their lease
// files no longer hold the node.
func TestLabChoiceAmongRouters(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	spec, err := lab.ParseSpec([]byte(routersSpec))
	if err != nil {
		t.Fatal(err)
	}
	l, err := upLab(t, spec, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	v := view(t, l, "multi")
	if !v.Bridge || len(v.Ports) != 1 || v.Ports[0] != "eth2" || len(v.IPv4) != 1 || v.Gateway != "10.211.0.1" ||
		!netip.MustParsePrefix("10.211.0.0/24").Contains(netip.MustParsePrefix(v.IPv4[0]).Addr()) {
		t.Fatalf("zos %+v, want port eth2 with an address in 10.211.0.0/24 via 10.211.0.1", v)
	}
	var macs []string
	for _, n := range l.Spec().Nodes {
		if n.Name == "multi" {
			for _, c := range n.NICs {
				macs = append(macs, strings.ToLower(c.MAC))
			}
		}
	}
	if len(macs) != 3 {
		t.Fatalf("node multi's MACs: %v", macs)
	}
	servers := filepath.Join(lab.StateRoot, l.Name(), "servers")
	for i, seg := range []string{"pubdhcp", "oobhigh"} {
		// the release is sent before zos is built: it is in the log by now
		logb, err := os.ReadFile(filepath.Join(servers, "dnsmasq-"+seg+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(logb), "DHCPRELEASE") || !strings.Contains(strings.ToLower(string(logb)), macs[i]) {
			t.Errorf("segment %s: no DHCPRELEASE from %s in dnsmasq's log:\n%s", seg, macs[i], logb)
		}
		leases, err := os.ReadFile(filepath.Join(servers, "dnsmasq-"+seg+".leases"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(string(leases)), macs[i]) {
			t.Errorf("segment %s: dnsmasq still leases to eth%d (%s):\n%s", seg, i, macs[i], leases)
		}
	}
	leases, err := os.ReadFile(filepath.Join(servers, "dnsmasq-ooblow.leases"))
	if err != nil || !strings.Contains(strings.ToLower(string(leases)), macs[2]) {
		t.Errorf("segment ooblow: the chosen lease is not held (%v):\n%s", err, leases)
	}
}
