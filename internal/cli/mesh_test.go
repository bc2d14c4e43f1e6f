package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"net/http/httptest"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/registry"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// TestMeshCommands drives `network status`, `access add` and `remove-node` against an
// in-process registry where three fake nodes report facts and network resources: farm1
// public (a public config endpoint), home1 and home2 hidden behind one NAT on one LAN.
func TestMeshCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZOSNET_CONFIG_DIR", dir)
	t.Setenv("ZOSNET_PROFILE", "")
	t.Setenv("ZOSNET_REGISTRY", "")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := registry.OpenSQLite(ctx, filepath.Join(dir, "grid.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := registry.New(ctx, registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	zosnet(t, "key", "create", "me")
	zosnet(t, "profile", "set", "me", "--registry", hs.URL, "--key", "me", "--use")
	var farm gridapi.Farm
	mustJSON(t, zosnet(t, "farm", "create", "f", "--json"), &farm)

	type node struct {
		c  *gridapi.Client
		id int64
		wg wgtypes.Key
	}
	nodes := map[string]*node{}
	facts := map[string]gridapi.NodeFacts{
		"farm1": {NICs: []gridapi.NIC{{Name: "zos", MAC: "02:00:00:00:00:01", Addrs: []string{"10.201.0.5/24"}}},
			Endpoints: []gridapi.Endpoint{{IP: "203.0.113.10", Family: 4, Reason: "public-config"}}},
		"home1": {NICs: []gridapi.NIC{{Name: "zos", MAC: "02:00:00:00:00:02", Addrs: []string{"172.29.1.101/24"}}}, Hidden: true},
		"home2": {NICs: []gridapi.NIC{{Name: "zos", MAC: "02:00:00:00:00:03", Addrs: []string{"172.29.1.102/24"}}}, Hidden: true},
	}
	for _, name := range []string{"farm1", "home1", "home2"} {
		k, _ := identity.Generate()
		c := &gridapi.Client{Base: hs.URL, Key: k}
		nd, err := c.Register(ctx, gridapi.NodeRegister{FarmID: farm.ID, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ReportFacts(ctx, nd.ID, facts[name]); err != nil {
			t.Fatalf("%s facts: %v", name, err)
		}
		wk, _ := wgtypes.GeneratePrivateKey()
		nodes[name] = &node{c: c, id: nd.ID, wg: wk}
	}
	var net gridapi.Network
	mustJSON(t, zosnet(t, "network", "create", "net1", "--range", "10.1.0.0/16", "--nodes", "farm1,home1,home2", "--json"), &net)

	// before any report: every member unreported, no pairs
	var ns plan.NetworkStatus
	mustJSON(t, zosnet(t, "network", "status", "net1", "--json"), &ns)
	if len(ns.Pairs) != 0 || len(ns.Members) != 3 || ns.Members[0].State != "unreported" {
		t.Fatalf("status before reports: %+v", ns)
	}
	// every node reports; home1 saw home2 and farm1 answer just now, farm1 saw home1
	now := time.Now().UTC()
	seen := map[string][]gridapi.PeerSeen{
		"home1": {{NodeID: nodes["home2"].id, LastReply: now}, {NodeID: nodes["farm1"].id, LastReply: now}},
		"farm1": {{NodeID: nodes["home1"].id, LastReply: now.Add(-time.Hour)}}, // too old
	}
	for name, n := range nodes {
		r := gridapi.NRReport{PublicKey: n.wg.PublicKey().String(), ListenPort: 3000, State: "up", Seen: seen[name]}
		if err := n.c.ReportNR(ctx, n.id, net.ID, r); err != nil {
			t.Fatalf("%s report: %v", name, err)
		}
	}
	mustJSON(t, zosnet(t, "network", "status", "net1", "--json"), &ns)
	if ns.PlanError != "" {
		t.Fatalf("plan error: %s", ns.PlanError)
	}
	want := map[string]string{ // from→to: path via reachable
		"home1→home2": "same-lan  true", "home2→home1": "same-lan  false",
		"home1→farm1": "direct  true", "farm1→home1": "direct  false",
	}
	for _, p := range ns.Pairs {
		k := p.From + "→" + p.To
		got := string(p.Path) + " " + p.Via + " " + map[bool]string{true: "true", false: "false"}[p.Reachable]
		if w, ok := want[k]; ok && got != w {
			t.Errorf("%s: %q, want %q", k, got, w)
		}
		if k == "home1→home2" && (p.LastReply == nil || !p.LastReply.Equal(now)) {
			t.Errorf("%s: last reply %v, want %v", k, p.LastReply, now)
		}
	}
	if out := zosnet(t, "network", "status", "net1"); !strings.Contains(out, "same-lan") || !strings.Contains(out, "LAST REPLY") || !strings.Contains(out, "FAILED OVER") {
		t.Errorf("status table: %s", out)
	}

	// the device's file: private key here, the access node's public endpoint, mode 0600
	file := filepath.Join(t.TempDir(), "laptop.conf")
	zosnet(t, "network", "access", "add", "net1", "--device", "laptop", "--out", file, "--wait", "5s")
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("wg-quick file: %v %v", fi, err)
	}
	f, _ := os.Open(file)
	defer f.Close()
	cfg, err := wgquick.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Peers) != 1 || cfg.Peers[0].Endpoint.String() != "203.0.113.10:3000" || cfg.Peers[0].PublicKey != nodes["farm1"].wg.PublicKey().String() {
		t.Errorf("device peer: %+v", cfg.Peers)
	}
	if len(cfg.Interface.Address) != 2 || !cfg.Interface.Address[1].Addr().Is6() || len(cfg.Peers[0].AllowedIPs) != 2 ||
		!cfg.Peers[0].AllowedIPs[1].Contains(cfg.Interface.Address[1].Addr()) {
		t.Errorf("device file: want an IPv4 and an IPv6 address, the range and its ULA routed: %+v", cfg)
	}
	if e := zosnetFails(t, "network", "access", "add", "net1", "--device", "bad name"); !strings.Contains(e, "device") {
		t.Errorf("bad device name: %s", e)
	}
	// --out that wg-quick would refuse: refused before anything is registered, saying why
	if e := zosnetFails(t, "network", "access", "add", "net1", "--device", "phone", "--out", filepath.Join(t.TempDir(), "production-phone.conf")); !strings.Contains(e, "at most 15 characters") || !strings.Contains(e, "net1-phone.conf") {
		t.Errorf("long --out: %s", e)
	}
	if e := zosnetFails(t, "network", "access", "add", "net1", "--device", "phone", "--out", file); !strings.Contains(e, "already exists") {
		t.Errorf("existing --out: %s", e)
	}
	// the default file name is one wg-quick accepts, in the current directory
	t.Chdir(t.TempDir())
	var res struct{ File string }
	mustJSON(t, zosnet(t, "network", "access", "add", "net1", "--device", "mylaptop-at-home", "--wait", "5s", "--json"), &res)
	if err := wgquick.CheckFileName(res.File); err != nil || !filepath.IsAbs(res.File) {
		t.Errorf("default file %q: %v", res.File, err)
	}
	if _, err := os.Stat(res.File); err != nil {
		t.Error(err)
	}

	var edited gridapi.Network
	mustJSON(t, zosnet(t, "network", "remove-node", "net1", "home2", "--json"), &edited)
	if len(edited.Members) != 2 || len(edited.AccessPeers) != 2 {
		t.Errorf("remove-node: %+v", edited)
	}
}
