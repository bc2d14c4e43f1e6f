package webui

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/registry"
)

// world is a real registry (SQLite, in-process, plain HTTP on loopback) holding one farm
// with simulated nodes, the user's network over all of them with every member's report,
// and a count of the requests the registry served.
type world struct {
	reg      *httptest.Server
	user     *gridapi.Client
	nodes    []simNode
	network  gridapi.Network
	requests atomic.Int64
}

type simNode struct {
	id     int64
	name   string
	public bool
	c      *gridapi.Client
}

func key(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newWorld builds a grid of n nodes (every third public) and network "demo" over all.
func newWorld(t testing.TB, n int) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	st, err := registry.OpenSQLite(ctx, filepath.Join(t.TempDir(), "grid.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := registry.New(ctx, registry.Config{Store: st, Log: log, Rate: 1e6, Burst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{}
	h := srv.Handler()
	w.reg = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.requests.Add(1)
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(func() { w.reg.Close(); cancel(); st.Close() })
	client := func(k *identity.Key) *gridapi.Client { return &gridapi.Client{Base: w.reg.URL, Key: k} }
	farm, err := client(key(t)).CreateFarm(ctx, gridapi.FarmCreate{Name: "farm"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c := client(key(t))
		name := fmt.Sprintf("node%03d", i)
		node, err := c.Register(ctx, gridapi.NodeRegister{FarmID: farm.ID, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		sn := simNode{id: node.ID, name: name, public: i%3 == 0, c: c}
		if err := c.ReportFacts(ctx, node.ID, sn.facts(i)); err != nil {
			t.Fatalf("facts of %s: %v", name, err)
		}
		w.nodes = append(w.nodes, sn)
	}
	w.user = client(key(t))
	spec := gridapi.NetworkSpec{Name: "demo", IPRange: "10.200.0.0/16", SubnetSize: 24}
	for _, sn := range w.nodes {
		spec.Members = append(spec.Members, sn.id)
	}
	if w.network, err = w.user.CreateNetwork(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for i, sn := range w.nodes {
		w.report(t, i, sn, time.Now())
	}
	return w
}

func (sn simNode) facts(i int) gridapi.NodeFacts {
	addr := fmt.Sprintf("192.168.%d.%d", i/200, 10+i%200)
	f := gridapi.NodeFacts{Hidden: !sn.public, Version: "test"}
	if sn.public {
		addr = fmt.Sprintf("203.0.%d.%d", 113+i/200, 10+i%200)
		f.Endpoints = []gridapi.Endpoint{{IP: addr, Family: 4, Reason: "public-ipv4"}}
	}
	f.NICs = []gridapi.NIC{{Name: "eth0", Kind: "device", MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256), Up: true, Addrs: []string{addr + "/24"}}}
	return f
}

// report sends node i's NR report: up, and every other member answered at seen (zero:
// none answered).
func (w *world) report(t testing.TB, i int, sn simNode, seen time.Time) {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	r := gridapi.NRReport{PublicKey: k.PublicKey().String(), ListenPort: 3000, State: "up"}
	if sn.public {
		r.Endpoints = []string{fmt.Sprintf("203.0.%d.%d:3000", 113+i/200, 10+i%200)}
	}
	for _, o := range w.nodes {
		if o.id != sn.id && !seen.IsZero() {
			r.Seen = append(r.Seen, gridapi.PeerSeen{NodeID: o.id, LastReply: seen})
		}
	}
	if err := sn.c.ReportNR(context.Background(), sn.id, w.network.ID, r); err != nil {
		t.Fatalf("report of %s: %v", sn.name, err)
	}
}

// ui starts a UI server on loopback for the world's user and returns it with its base URL.
func (w *world) ui(t testing.TB, refresh time.Duration) (*Server, string) {
	t.Helper()
	s, err := New(Config{Client: w.user, Owner: w.user.Key.ID(), Registry: w.reg.URL, Refresh: refresh, DeviceWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}
