package lab

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/nft"
	"github.com/zosnet/zosnet/internal/testkit"
)

// TestRouterRules checks the routers' nftables rules with `nft list` as oracle.
func TestRouterRules(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	s := DefaultSpec()
	s.router("homegw").NAT.Mode = NATFullyRandom
	l := upLab(t, s, Options{})
	cases := []struct {
		router string
		want   []string
	}{
		{"farmgw", []string{`oifname "inet" ip saddr 10.201.0.0/24 masquerade`}},
		{"homegw", []string{`oifname "inet" ip saddr 172.29.1.0/24 masquerade fully-random`,
			"ct state established,related accept", `meta nfproto ipv4 iifname "inet" drop`}},
		{"home6gw", []string{`oifname "inet" ip saddr 172.29.6.0/24 masquerade`,
			`meta nfproto ipv4 iifname "inet" drop`, `meta nfproto ipv6 iifname "inet" drop`}},
	}
	for _, c := range cases {
		out := run(t, l, c.router, tool("nft"), "list", "ruleset")
		if want := nft.Render(routerTables(s, s.router(c.router))...); out != want {
			t.Errorf("%s: the kernel lists\n%s\nrouterTables renders\n%s", c.router, out, want)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: ruleset lacks %q:\n%s", c.router, w, out)
			}
		}
	}
	if out := run(t, l, "farmgw", tool("nft"), "list", "ruleset"); strings.Contains(out, "drop") {
		t.Errorf("farmgw filters, the PUBLIC segment must not be firewalled:\n%s", out)
	}
	if out := run(t, l, "internet", tool("nft"), "list", "ruleset"); strings.TrimSpace(out) != "" {
		t.Errorf("internet has rules:\n%s", out)
	}
}

// TestFirewallOffReaches is the contrast of the hidden-node classes: without the inbound
// firewalls the internet reaches home6 over IPv6, and home1 when routed at homegw, so
// the firewalls are what block them.
func TestFirewallOffReaches(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	s := DefaultSpec()
	s.router("home6gw").Firewall.Inbound6 = false
	s.router("homegw").Firewall.Inbound4 = false
	l := upLab(t, s, Options{})
	ctx := context.Background()
	a, err := l.SLAAC(ctx, "home6", "eth0", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(ctx, "user", a.Addr(), 5*time.Second); err != nil {
		t.Errorf("without IPv6 firewall: %v", err)
	}
	h, _, err := l.Lease(ctx, "home1", "eth0", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = l.WithRoute("user", h.Masked().String(), "198.51.100.3", func() error {
		return l.Ping(ctx, "user", h.Addr(), 5*time.Second)
	})
	if err != nil {
		t.Errorf("without IPv4 firewall, routed at homegw: %v", err)
	}
}

// goldenRouters are the default farm's routers, with homegw's NAT hard (fully random)
// as TestRouterRules runs it.
func goldenRouters() (*Spec, []string) {
	s := DefaultSpec()
	s.router("homegw").NAT.Mode = NATFullyRandom
	return s, []string{"farmgw", "homegw", "home6gw", "internet"}
}

// TestRouterTablesGolden: each router's whole ruleset, as `nft list ruleset` prints it
// (no root; TestRouterTablesInKernel checks the kernel lists the same).
func TestRouterTablesGolden(t *testing.T) {
	s, routers := goldenRouters()
	for _, r := range routers {
		testkit.Golden(t, "testdata/"+r+".nft", nft.Render(routerTables(s, s.router(r))...))
	}
}

// TestRouterTablesInKernel applies each router's tables in a throwaway namespace: the
// kernel lists exactly the golden file, and re-applying changes nothing.
func TestRouterTablesInKernel(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	s, routers := goldenRouters()
	for _, r := range routers {
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
		testkit.SameAsGolden(t, "testdata/"+r+".nft", string(out))
	}
}
