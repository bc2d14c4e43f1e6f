package firewall

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
	"github.com/zosnet/zosnet/internal/testkit"
)

// nftList returns `nft list ruleset` inside ns (the oracle).
func nftList(t *testing.T, ns *netns.NS) string {
	t.Helper()
	var out []byte
	err := ns.Do(func() error {
		var err error
		out, err = exec.Command("nft", "list", "ruleset").CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	return string(out)
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("ruleset lacks %q:\n%s", w, got)
		}
	}
}

// TestTablesRenderAndReapply applies every table with the golden tests' inputs: the
// kernel lists each exactly as its golden file says, and re-applying changes nothing.
func TestTablesRenderAndReapply(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	gwNS := testkit.NewNS(t)
	in := goldenInputs()
	apply := func() {
		t.Helper()
		for _, err := range []error{
			ApplyHost(ns, in.host),
			ApplyNDMZ(ns, in.ndmz),
			ApplySocket(ns, in.socket),
			ApplyUplink(ns, in.uplink),
			ApplyAntiSpoof(ns, in.ports),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		// the gateway's tables go to namespaces of their own (the socket table is
		// the same table with more rules, the gateway table lives in an NR namespace)
		for _, err := range []error{ApplySocketWith(gwNS, in.gwSocket), ApplyGateway(gwNS, in.gateway)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	apply()
	bare := testkit.NewNS(t) // the host table without ndmz
	if err := ApplyHost(bare, Host{}); err != nil {
		t.Fatal(err)
	}
	if err := ApplyNDMZ(bare, NDMZ{UplinkPrefix: "u-", Egress: []string{"to-host"}}); err != nil {
		t.Fatal(err)
	}
	for _, g := range goldenTables() {
		in := ns
		switch g.file {
		case "testdata/host-no-ndmz.nft", "testdata/ndmz-bare.nft":
			in = bare
		case "testdata/socket-gateway.nft", "testdata/gateway.nft":
			in = gwNS
		}
		testkit.SameAsGolden(t, g.file, nft.SortSetElements(testkit.NFTList(t, in, nft.Family(g.table.Family), g.table.Name)))
	}
	first := nftList(t, ns)
	wantLines(t, first,
		"table inet zosnet-host", "udp dport 3000 accept", "udp dport 3001 accept",
		`iifname "ndmz-h" oifname != "ndmz-h" accept`, `ip saddr 100.126.0.0/30 oifname != "ndmz-h" masquerade`,
		"icmpv6 type nd-router-advert accept",
		`iifname "u-*" oifname "to-host" masquerade`, `iifname "u-*" oifname "pub6" accept`,
		"table inet zosnet-socket", "udp dport 3002 accept",
		`iifname "u-net1" drop`, `oifname "u-net1" masquerade`,
		"table bridge zosnet-antispoof", `iifname "c-w1" ether saddr != 02:00:00:00:00:07 drop`,
		`iifname "c-w1" ip saddr != 10.1.1.2 drop`, `iifname "c-w1" ip6 saddr fd00::2 accept`)
	if strings.Contains(first, "dport 68") {
		t.Error("the host table opens UDP 68: the DHCP client reads a packet socket, and an open port answers scans")
	}
	if n := strings.Count(first, "udp dport 3001"); n != 1 {
		t.Errorf("port 3001 rendered %d times, want once", n)
	}
	tables := func() map[string]string { // by table: an unchanged ndmz table is not re-made, so the order may differ
		out := map[string]string{}
		for _, g := range goldenTables() {
			switch g.file {
			case "testdata/host-no-ndmz.nft", "testdata/ndmz-bare.nft":
			case "testdata/socket-gateway.nft", "testdata/gateway.nft":
				out["gw:"+g.table.Name] = testkit.NFTList(t, gwNS, nft.Family(g.table.Family), g.table.Name)
			default:
				out[g.table.Name] = testkit.NFTList(t, ns, nft.Family(g.table.Family), g.table.Name)
			}
		}
		return out
	}
	before := tables()
	apply()
	for name, again := range tables() {
		if again != before[name] {
			t.Errorf("re-apply changed table %s:\n%s\nvs\n%s", name, before[name], again)
		}
	}
	for _, name := range []string{HostTable, NDMZTable, SocketTable, UplinkTable, AntiSpoofTable, AntiSpoofTable} {
		if err := Remove(ns, name); err != nil {
			t.Fatal(err)
		}
	}
	if rest := strings.TrimSpace(nftList(t, ns)); rest != "" {
		t.Errorf("tables left after Remove:\n%s", rest)
	}
}
