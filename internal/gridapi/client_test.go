package gridapi_test

import (
	"context"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/registry"
)

// registryURL starts the real registry on a fresh SQLite file behind httptest (no root,
// no network) and returns its base URL.
func registryURL(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	st, err := registry.OpenSQLite(ctx, filepath.Join(t.TempDir(), "grid.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := registry.New(ctx, registry.Config{Store: st, Log: log, Rate: 1e6, Burst: 1e6, WatchTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); cancel(); st.Close() })
	return hs.URL
}

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestClientAgainstRegistry drives every Client call against the real registry: a
// farmer, two nodes and a user, what each is told, and the errors a client sees.
func TestClientAgainstRegistry(t *testing.T) {
	base := registryURL(t)
	ctx := context.Background()
	farmer := &gridapi.Client{Base: base + "/", Key: newKey(t)} // a trailing slash is fine
	user := &gridapi.Client{Base: base, Key: newKey(t)}
	nodeA, nodeB := &gridapi.Client{Base: base, Key: newKey(t)}, &gridapi.Client{Base: base, Key: newKey(t)}
	anon := &gridapi.Client{Base: base}

	h, err := anon.Health(ctx)
	if err != nil || h.Status != "ok" {
		t.Fatalf("health: %+v %v", h, err)
	}
	f, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "f1"})
	must(t, err)
	if fs, err := anon.Farms(ctx); err != nil || len(fs) != 1 || fs[0].ID != f.ID {
		t.Fatalf("farms: %+v %v", fs, err)
	}
	if got, err := anon.Farm(ctx, "f1"); err != nil || got.ID != f.ID {
		t.Fatalf("farm by name: %+v %v", got, err)
	}
	a, err := nodeA.Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: "farm1", Version: "t"})
	must(t, err)
	again, err := nodeA.Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: "farm1", Version: "t"})
	if err != nil || again.ID != a.ID {
		t.Fatalf("register again: %+v %v (first %d)", again, err, a.ID)
	}
	b, err := nodeB.Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: "home1"})
	must(t, err)
	if ns, err := anon.Nodes(ctx, f.ID); err != nil || len(ns) != 2 {
		t.Fatalf("nodes of the farm: %+v %v", ns, err)
	}
	if ns, err := anon.Nodes(ctx, 0); err != nil || len(ns) != 2 {
		t.Fatalf("all nodes: %+v %v", ns, err)
	}
	facts := gridapi.NodeFacts{NICs: []gridapi.NIC{{Name: "eth0", MAC: "02:00:00:00:00:01", Up: true, Addrs: []string{"10.0.0.5/24"}}},
		Hidden: true, Version: "t"}
	must(t, nodeA.ReportFacts(ctx, a.ID, facts))
	must(t, nodeA.Heartbeat(ctx, a.ID))
	if got, err := anon.Node(ctx, "farm1"); err != nil || len(got.Facts.NICs) != 1 || !got.Online {
		t.Fatalf("node farm1 after facts and heartbeat: %+v %v", got, err)
	}
	pc := gridapi.PublicConfig{IPv4: "198.51.100.10/24", GW4: "198.51.100.1"}
	if got, err := farmer.SetPublicConfig(ctx, a.ID, pc); err != nil || got.PublicConfig == nil || *got.PublicConfig != pc {
		t.Fatalf("set public config: %+v %v", got, err)
	}

	n, err := user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "net", IPRange: "10.7.0.0/16", Members: []int64{a.ID}})
	must(t, err)
	d, err := nodeA.Desired(ctx, a.ID, 0, 0)
	if err != nil || len(d.Networks) != 1 || d.Networks[0].ID != n.ID || d.PublicConfig == nil {
		t.Fatalf("desired of A: %+v %v", d, err)
	}
	// a long-poll at the current revision returns at its timeout with nothing new (204:
	// a zero Desired, not the whole state again)
	if d2, err := nodeA.Desired(ctx, a.ID, d.Revision, 200*time.Millisecond); err != nil || d2.Revision != 0 || d2.Networks != nil {
		t.Fatalf("long-poll without a change: rev %d→%d %v", d.Revision, d2.Revision, err)
	}
	rep := gridapi.NRReport{PublicKey: "q5S4UWmvJtfWspLf0nM1Ue2QSgd6Ed0YMyCCnKLDkFY=", ListenPort: 3000, Endpoints: []string{}, State: "up"}
	must(t, nodeA.ReportNR(ctx, a.ID, n.ID, rep))
	n, err = user.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "net", IPRange: "10.7.0.0/16", Members: []int64{a.ID, b.ID}})
	if err != nil || len(n.Members) != 2 {
		t.Fatalf("update network: %+v %v", n, err)
	}
	if got, err := anon.Network(ctx, n.ID); err != nil || got.ID != n.ID {
		t.Fatalf("network: %+v %v", got, err)
	}
	if ns, err := anon.Networks(ctx, ""); err != nil || len(ns) != 1 {
		t.Fatalf("networks: %+v %v", ns, err)
	}
	if ns, err := anon.Networks(ctx, n.Owner); err != nil || len(ns) != 1 {
		t.Fatalf("networks of the owner: %+v %v", ns, err)
	}
	st, err := anon.NetworkStatus(ctx, n.ID)
	if err != nil || st.ID != n.ID || len(st.Peers) != 2 {
		t.Fatalf("network status: %+v %v", st, err)
	}

	// what a client is told when it may not, or when something is missing
	if _, err := nodeB.UpdateNetwork(ctx, n.ID, gridapi.NetworkSpec{Name: "net", IPRange: "10.7.0.0/16"}); !gridapi.IsStatus(err, http.StatusForbidden) {
		t.Errorf("update by a non-owner: %v", err)
	}
	if err := anon.Heartbeat(ctx, a.ID); !gridapi.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("unsigned heartbeat: %v", err)
	}
	if _, err := anon.Node(ctx, "nope"); !gridapi.IsStatus(err, http.StatusNotFound) || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing node: %v", err)
	}
	_, err = user.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "Bad Name", IPRange: "10.8.0.0/16"})
	if !gridapi.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "field name") {
		t.Errorf("bad network name: %v (want a 400 naming the field)", err)
	} else if ae, ok := err.(*gridapi.APIError); !ok || ae.Field != "name" {
		t.Errorf("bad network name: %#v", err)
	}

	must(t, farmer.UnsetPublicConfig(ctx, a.ID))
	must(t, user.DeleteNetwork(ctx, n.ID))
	if _, err := anon.Network(ctx, n.ID); !gridapi.IsStatus(err, http.StatusNotFound) {
		t.Errorf("deleted network: %v", err)
	}
	if d, err := nodeA.Desired(ctx, a.ID, 0, 0); err != nil || len(d.Networks) != 0 || d.PublicConfig != nil {
		t.Errorf("desired after delete and unset: %+v %v", d, err)
	}
}

// TestClientTransportErrors: an unreachable registry, a non-JSON error page, an
// undecodable answer and a cancelled request each give an error saying so.
func TestClientTransportErrors(t *testing.T) {
	ctx := context.Background()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/health":
			w.Write([]byte("{not json"))
		default:
			http.Error(w, "bad gateway from a proxy", http.StatusBadGateway)
		}
	}))
	defer hs.Close()
	c := &gridapi.Client{Base: hs.URL, Key: newKey(t)}
	if _, err := c.Health(ctx); err == nil || !strings.Contains(err.Error(), "registry answer") {
		t.Errorf("undecodable answer: %v", err)
	}
	err := c.Heartbeat(ctx, 1)
	if !gridapi.IsStatus(err, http.StatusBadGateway) || !strings.Contains(err.Error(), "bad gateway from a proxy") {
		t.Errorf("plain-text error page: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Farms(cctx); err == nil || !strings.Contains(err.Error(), "GET /v1/farms") {
		t.Errorf("cancelled request: %v", err)
	}
	dead := &gridapi.Client{Base: "http://127.0.0.1:1"}
	if _, err := dead.Health(ctx); err == nil || !strings.Contains(err.Error(), "registry GET /v1/health") {
		t.Errorf("unreachable registry: %v", err)
	}
	bad := &gridapi.Client{Base: "http://[::1"}
	if _, err := bad.Health(ctx); err == nil || !strings.Contains(err.Error(), "registry request") {
		t.Errorf("malformed base URL: %v", err)
	}
	if _, err := c.CreateNetwork(ctx, gridapi.NetworkSpec{Name: "x", Members: []int64{1}}); !gridapi.IsStatus(err, http.StatusBadGateway) {
		t.Errorf("create through the proxy: %v", err)
	}
}

// TestHTTPClient: a CA bundle is trusted (and only it), a missing or empty one is an
// error naming the file.
func TestHTTPClient(t *testing.T) {
	hs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok","revision":1}`))
	}))
	defer hs.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o644))
	hc, err := gridapi.HTTPClient(ca)
	must(t, err)
	if h, err := (&gridapi.Client{Base: hs.URL, HTTP: hc}).Health(context.Background()); err != nil || h.Revision != 1 {
		t.Fatalf("health over TLS with the CA: %+v %v", h, err)
	}
	sys, err := gridapi.HTTPClient("")
	must(t, err)
	if _, err := (&gridapi.Client{Base: hs.URL, HTTP: sys}).Health(context.Background()); err == nil {
		t.Error("the system roots trusted the test CA")
	} else if _, ok := sys.Transport.(*http.Transport); !ok {
		t.Errorf("transport %T", sys.Transport)
	}
	if _, err := gridapi.HTTPClient(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "read CA bundle") {
		t.Errorf("missing CA file: %v", err)
	}
	empty := filepath.Join(dir, "empty.pem")
	must(t, os.WriteFile(empty, []byte("no pem here"), 0o644))
	if _, err := gridapi.HTTPClient(empty); err == nil || !strings.Contains(err.Error(), "no PEM certificates") {
		t.Errorf("CA file without certificates: %v", err)
	}
}

// TestNormalize fills the default subnet size and keeps a chosen one.
func TestNormalize(t *testing.T) {
	s := gridapi.NetworkSpec{Name: "n", IPRange: "10.1.0.0/16"}
	s.Normalize()
	if s.SubnetSize != gridapi.DefaultSubnet {
		t.Errorf("default subnet size %d, want %d", s.SubnetSize, gridapi.DefaultSubnet)
	}
	s.SubnetSize = 26
	s.Normalize()
	if s.SubnetSize != 26 {
		t.Errorf("chosen subnet size changed to %d", s.SubnetSize)
	}
}
