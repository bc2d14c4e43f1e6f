package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/registry"
)

func zosnet(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(args, &out, &errb); code != 0 {
		t.Fatalf("zosnet %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func zosnetFails(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(args, &out, &errb); code == 0 {
		t.Fatalf("zosnet %s: succeeded, want failure: %s", strings.Join(args, " "), out.String())
	}
	return errb.String()
}

// TestGridCommands drives the registry commands end to end against an in-process
// registry: keys, profiles, farm, nodes by name, public config, networks.
func TestGridCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZOSNET_CONFIG_DIR", dir)
	t.Setenv("ZOSNET_PROFILE", "")
	t.Setenv("ZOSNET_REGISTRY", "")
	st, err := registry.OpenSQLite(context.Background(), filepath.Join(dir, "grid.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := registry.New(ctx, registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	zosnet(t, "key", "create", "farmer")
	zosnet(t, "key", "create", "user")
	if fi, err := os.Stat(filepath.Join(dir, "keys", "farmer.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	zosnetFails(t, "key", "create", "farmer") // never overwrite a key
	zosnet(t, "profile", "set", "farmer", "--registry", hs.URL, "--key", "farmer")
	zosnet(t, "profile", "set", "user", "--registry", hs.URL, "--key", "user")
	if out := zosnet(t, "profile", "list"); !regexp.MustCompile(`(?m)^\*\s+farmer`).MatchString(out) {
		t.Fatalf("profile list: %s", out)
	}
	var farm gridapi.Farm
	mustJSON(t, zosnet(t, "farm", "create", "lab-farm", "--json"), &farm)
	if out := zosnet(t, "farm", "list"); !strings.Contains(out, "lab-farm") {
		t.Fatalf("farm list: %s", out)
	}
	nodes := map[string]gridapi.Node{}
	var farm1 *gridapi.Client
	for _, name := range []string{"farm1", "home1"} {
		k, _ := identity.Generate()
		c := &gridapi.Client{Base: hs.URL, Key: k}
		n, err := c.Register(ctx, gridapi.NodeRegister{FarmID: farm.ID, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
		if name == "farm1" {
			farm1 = c
		}
	}
	if out := zosnet(t, "node", "list"); !strings.Contains(out, "farm1") || !strings.Contains(out, "home1") || !strings.Contains(out, "online") {
		t.Fatalf("node list: %s", out)
	}
	zosnet(t, "node", "public-config", "set", "farm1", "--ipv4", "198.51.100.10/24", "--gw4", "198.51.100.1")
	var n gridapi.Node
	mustJSON(t, zosnet(t, "node", "show", "farm1", "--json"), &n)
	if n.PublicConfig == nil || n.PublicConfig.IPv4 != "198.51.100.10/24" {
		t.Fatalf("node show: %+v", n)
	}
	// the user may not set a farm's public config
	if e := zosnetFails(t, "node", "public-config", "unset", "farm1", "--profile", "user"); !strings.Contains(e, "403") {
		t.Fatalf("user unset: %s", e)
	}
	zosnet(t, "node", "public-config", "unset", "farm1")
	zosnet(t, "node", "public-config", "set", "farm1", "--ipv4", "198.51.100.10/24", "--gw4", "198.51.100.1", "--domain", "gw1.farm1.test")
	zosnet(t, "profile", "use", "user")
	var net gridapi.Network
	mustJSON(t, zosnet(t, "network", "create", "net1", "--range", "10.1.0.0/16", "--nodes", "farm1,home1",
		"--peer", "laptop=GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE=", "--json"), &net)
	if len(net.Members) != 2 || net.AccessPeers[0].Address == "" {
		t.Fatalf("network create: %+v", net)
	}
	if e := zosnetFails(t, "network", "create", "net2", "--range", "10.1.0.0/33"); !strings.Contains(e, "ip_range") {
		t.Fatalf("bad range error must name the field: %s", e)
	}
	if out := zosnet(t, "network", "show", "net1"); !strings.Contains(out, net.ID) || !strings.Contains(out, "10.1.1.0/24") ||
		!strings.Contains(out, "home1") || !strings.Contains(out, "waiting") {
		t.Fatalf("network show by name: %s", out)
	}
	if out := zosnet(t, "network", "list"); !strings.Contains(out, "net1") {
		t.Fatalf("network list: %s", out)
	}
	if out := zosnet(t, "network", "list", "--profile", "farmer"); strings.Contains(out, "net1") {
		t.Fatalf("farmer's network list shows the user's network: %s", out)
	}
	var edited gridapi.Network
	mustJSON(t, zosnet(t, "network", "rm-node", "net1", "home1", "--json"), &edited)
	if len(edited.Members) != 1 || edited.Members[0].Subnet != net.Members[0].Subnet {
		t.Fatalf("rm-node: %+v", edited)
	}
	mustJSON(t, zosnet(t, "network", "add-node", "net1", "home1", "--json"), &edited)
	mustJSON(t, zosnet(t, "network", "add-peer", "net1", "phone=r1FJwTZZtgNRA0Me0kExYyZ8ZsfjmIpHRmtvO1CUhwI=", "--json"), &edited)
	mustJSON(t, zosnet(t, "network", "rm-peer", "net1", "laptop", "--json"), &edited)
	if len(edited.Members) != 2 || len(edited.AccessPeers) != 1 || edited.AccessPeers[0].Name != "phone" {
		t.Fatalf("after edits: %+v", edited)
	}
	if e := zosnetFails(t, "network", "add-node", "net1", "nosuchnode"); !strings.Contains(e, "nosuchnode") {
		t.Fatalf("unknown node: %s", e)
	}
	testWorkloadCommands(t, net.ID, farm1, nodes["farm1"].ID)
	exposeCLI(t, net)
	zosnet(t, "network", "delete", "net1")
	if out := zosnet(t, "network", "list", "--all"); strings.Contains(out, "net1") {
		t.Fatalf("deleted network still listed: %s", out)
	}
	t.Setenv("ZOSNET_CONFIG_DIR", t.TempDir())
	if e := zosnetFails(t, "node", "list"); !strings.Contains(e, "no registry") {
		t.Fatalf("without a profile: %s", e)
	}
	if out := zosnet(t, "node", "list", "--registry", hs.URL); !strings.Contains(out, "farm1") {
		t.Fatalf("node list with --registry only: %s", out)
	}
}

// testWorkloadCommands: the farmer's pool, workloads through the grid, a member with
// workloads refused from leaving.
func testWorkloadCommands(t *testing.T, netID string, farm1 *gridapi.Client, farm1ID int64) {
	zosnet(t, "farm", "public-ips", "add", "lab-farm", "203.0.113.50/24", "--gateway", "203.0.113.1", "--profile", "farmer")
	if e := zosnetFails(t, "farm", "public-ips", "add", "lab-farm", "203.0.113.51/24", "--gateway", "203.0.113.1"); !strings.Contains(e, "403") {
		t.Fatalf("the user adds to the farm's pool: %s", e)
	}
	var wl gridapi.Workload
	mustJSON(t, zosnet(t, "workload", "add", "net1", "farm1", "web1", "--json"), &wl)
	if wl.NetworkID != netID || wl.Kind != "container" {
		t.Fatalf("workload add: %+v", wl)
	}
	if e := zosnetFails(t, "workload", "add", "net1", "farm1", "www", "--public-ipv4"); !strings.Contains(e, "no public NIC") {
		t.Fatalf("public IPv4 on a node without a public NIC: %s", e)
	}
	facts := gridapi.NodeFacts{Endpoints: []gridapi.Endpoint{{IP: "2001:db8:1::5", Family: 6, Reason: gridapi.ReasonPublicSegment}}}
	if err := farm1.ReportFacts(context.Background(), farm1ID, facts); err != nil {
		t.Fatal(err)
	}
	mustJSON(t, zosnet(t, "workload", "add", "net1", "farm1", "www", "--public-ipv4", "--kind", "vm", "--json"), &wl)
	if wl.PublicIPv4 != "203.0.113.50/24" || wl.Kind != "vm" {
		t.Fatalf("public workload: %+v", wl)
	}
	if out := zosnet(t, "workload", "list"); !strings.Contains(out, "web1") || !strings.Contains(out, "www") || !strings.Contains(out, "pending") {
		t.Fatalf("workload list: %s", out)
	}
	if out := zosnet(t, "workload", "show", "net1", "www"); !strings.Contains(out, "203.0.113.50/24 (gateway 203.0.113.1)") {
		t.Fatalf("workload show: %s", out)
	}
	if out := zosnet(t, "farm", "public-ips", "list", "lab-farm"); !strings.Contains(out, netID+"/www") {
		t.Fatalf("pool list: %s", out)
	}
	if e := zosnetFails(t, "network", "rm-node", "net1", "farm1"); !strings.Contains(e, "web1") {
		t.Fatalf("a member with workloads leaves: %s", e)
	}
	zosnet(t, "workload", "rm", "net1", "www")
	if out := zosnet(t, "farm", "public-ips", "list", "lab-farm"); strings.Contains(out, "www") {
		t.Fatalf("address not freed: %s", out)
	}
	zosnet(t, "farm", "public-ips", "rm", "lab-farm", "203.0.113.50", "--profile", "farmer")
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("current: user\nprofiles:\n  user: {registry: https://198.51.100.10:8443, ca: /x/ca.crt, key: user}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(b)
		if err == nil && c.Profiles != nil {
			_ = c.Profiles[c.Current]
		}
	})
}

func TestParseConfigStrict(t *testing.T) {
	if _, err := parseConfig([]byte("profiles:\n  u: {registy: x}\n")); err == nil {
		t.Fatal("a misspelled key must be an error")
	}
	if c, err := parseConfig(nil); err != nil || c.Current != "" {
		t.Fatalf("empty config: %+v %v", c, err)
	}
}

// exposeCLI: expose http|tcp, list, show, rm on network net (farm1 is a gateway).
func exposeCLI(t *testing.T, net gridapi.Network) {
	t.Helper()
	var e gridapi.Exposure
	mustJSON(t, zosnet(t, "expose", "http", "net1", "shop", "--to", "10.1.1.10:8080", "--gateway", "farm1", "--json"), &e)
	if e.FQDN != "shop.gw1.farm1.test" || e.TLS != "terminate" || e.Network != net.ID {
		t.Fatalf("expose http: %+v", e)
	}
	if msg := zosnetFails(t, "expose", "http", "net1", "shop", "--to", "10.1.1.10:8080"); !strings.Contains(msg, "409") || !strings.Contains(msg, "name") {
		t.Fatalf("second claim of a name: %s", msg)
	}
	if msg := zosnetFails(t, "expose", "http", "net1", "Bad_Name", "--to", "10.1.1.10:8080"); !strings.Contains(msg, "field name") {
		t.Fatalf("bad name: %s", msg)
	}
	if msg := zosnetFails(t, "expose", "tcp", "net1", "--to", "10.9.9.9:22"); !strings.Contains(msg, "backends[0]") {
		t.Fatalf("backend off the network: %s", msg)
	}
	var tcp gridapi.Exposure
	mustJSON(t, zosnet(t, "expose", "tcp", "net1", "--to", "10.1.1.11:5432", "--json"), &tcp)
	if tcp.Port != 20000 {
		t.Fatalf("expose tcp: %+v", tcp)
	}
	if out := zosnet(t, "expose", "list"); !strings.Contains(out, "shop.gw1.farm1.test") || !strings.Contains(out, "tcp port 20000") {
		t.Fatalf("expose list: %s", out)
	}
	if out := zosnet(t, "expose", "show", "shop.gw1.farm1.test"); !strings.Contains(out, "not reported") || !strings.Contains(out, "10.1.1.10:8080") {
		t.Fatalf("expose show: %s", out)
	}
	zosnet(t, "expose", "rm", "shop.gw1.farm1.test")
	zosnet(t, "expose", "rm", tcp.ID)
	if out := zosnet(t, "expose", "list", "--all"); strings.Contains(out, "shop") {
		t.Fatalf("removed exposure listed: %s", out)
	}
}
