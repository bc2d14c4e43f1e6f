package nodeagent

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/registry"
)

func TestEndpointReason(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"198.51.100.5", "public-ipv4"}, {"8.8.8.8", "public-ipv4"}, {"2001:db8::5", "global-ipv6"},
		{"10.1.2.3", ""}, {"192.168.1.1", ""}, {"172.16.0.1", ""}, {"100.64.1.1", ""}, {"127.0.0.1", ""},
		{"169.254.1.1", ""}, {"fe80::1", ""}, {"fd00::1", ""}, {"::1", ""}, {"::ffff:198.51.100.5", "public-ipv4"},
	} {
		if got := endpointReason(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("endpointReason(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
	f := gridapi.NodeFacts{NICs: []gridapi.NIC{{Name: "zos", Addrs: []string{"10.0.0.5/24", "fe80::1/64"}}}}
	classify(&f)
	if !f.Hidden || len(f.Endpoints) != 0 {
		t.Fatalf("private-only node must be hidden: %+v", f)
	}
	f.NICs[0].Addrs = append(f.NICs[0].Addrs, "198.51.100.5/24", "2001:db8::5/64")
	f.Endpoints = publicConfigEndpoints(&gridapi.PublicConfig{IPv4: "203.0.113.5/24"})
	classify(&f)
	if f.Hidden || len(f.Endpoints) != 3 || f.Endpoints[0].IP != "2001:db8::5" || f.Endpoints[1].Reason != "public-ipv4" && f.Endpoints[1].Reason != "public-config" {
		t.Fatalf("classified: %+v", f.Endpoints)
	}
}

// factsFunc adapts a function to FactsSource.
type factsFunc func(ctx context.Context) (gridapi.NodeFacts, error)

func (f factsFunc) Facts(ctx context.Context) (gridapi.NodeFacts, error) { return f(ctx) }

// fakeFacts is a FactsSource the test changes.
type fakeFacts struct {
	mu sync.Mutex
	f  gridapi.NodeFacts
}

func (s *fakeFacts) Facts(context.Context) (gridapi.NodeFacts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.f
	f.NICs = append([]gridapi.NIC(nil), s.f.NICs...)
	return f, nil
}

func (s *fakeFacts) setAddrs(addrs ...string) {
	s.mu.Lock()
	s.f.NICs = []gridapi.NIC{{Name: "zos", MAC: "52:54:00:00:00:01", Up: true, Addrs: addrs}}
	s.mu.Unlock()
}

// regServer is an in-process registry that can be stopped and restarted on the same
// address, keeping its database.
type regServer struct {
	t    *testing.T
	st   registry.Store
	h    http.Handler
	addr string
	srv  *http.Server
	done chan struct{}
}

func newRegServer(t *testing.T) *regServer {
	st, err := registry.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := registry.New(ctx, registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // reserved; started by start()
	r := &regServer{t: t, st: st, h: srv.Handler(), addr: addr}
	t.Cleanup(func() { r.stop(); cancel(); st.Close() })
	return r
}

func (r *regServer) url() string { return "http://" + r.addr }

func (r *regServer) start() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("restart registry on %s: %v", r.addr, err)
	}
	r.srv, r.done = &http.Server{Handler: r.h}, make(chan struct{})
	go func() { _ = r.srv.Serve(ln); close(r.done) }()
}

func (r *regServer) stop() {
	if r.srv != nil {
		_ = r.srv.Close()
		<-r.done
		r.srv = nil
	}
}

func key(t *testing.T) *identity.Key {
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAgentBacksOffAndReports: the agent starts while the registry is down, registers
// once it is up, reports changes promptly, and catches up after another outage.
func TestAgentBacksOffAndReports(t *testing.T) {
	reg := newRegServer(t)
	ctx := context.Background()
	farmer := &gridapi.Client{Base: reg.url(), Key: key(t)}
	facts := &fakeFacts{}
	facts.setAddrs("10.0.0.5/24")
	changes := make(chan struct{}, 1)
	a := New(Config{Client: &gridapi.Client{Base: reg.url(), Key: key(t)}, FarmID: 1, Name: "farm1", Version: "t",
		Facts: facts, Changes: changes, Heartbeat: time.Hour, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // a few failed attempts against the dead address
	reg.start()
	if _, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "f"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Registered():
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not register after the registry came up")
	}
	anon := &gridapi.Client{Base: reg.url()}
	nodeHas := func(addr string, hidden bool) func() bool {
		return func() bool {
			n, err := anon.Node(ctx, "farm1")
			return err == nil && len(n.Facts.NICs) == 1 && n.Facts.NICs[0].Addrs[len(n.Facts.NICs[0].Addrs)-1] == addr && n.Facts.Hidden == hidden
		}
	}
	eventually(t, 5*time.Second, "first facts", nodeHas("10.0.0.5/24", true))
	facts.setAddrs("10.0.0.5/24", "198.51.100.5/24")
	changes <- struct{}{}
	eventually(t, 30*time.Second, "facts after a change (the heartbeat is an hour: only the change can send them)", nodeHas("198.51.100.5/24", false))
	reg.stop()
	facts.setAddrs("10.0.0.5/24", "198.51.100.6/24")
	changes <- struct{}{}
	time.Sleep(100 * time.Millisecond)
	reg.start()
	eventually(t, 5*time.Second, "facts after the outage", nodeHas("198.51.100.6/24", false))
}

// TestAgentRegistration: an unknown farm is retried (the farmer may create it later);
// a name held by another key is a permanent error.
func TestAgentRegistration(t *testing.T) {
	reg := newRegServer(t)
	reg.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := New(Config{Client: &gridapi.Client{Base: reg.url(), Key: key(t)}, FarmID: 1, Name: "x1", Facts: &fakeFacts{},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-a.Registered():
		t.Fatal("registered in a farm that does not exist")
	default:
	}
	if _, err := (&gridapi.Client{Base: reg.url(), Key: key(t)}).CreateFarm(ctx, gridapi.FarmCreate{Name: "late"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Registered():
	case <-time.After(5 * time.Second):
		t.Fatal("not registered after the farm was created")
	}
	b := New(Config{Client: &gridapi.Client{Base: reg.url(), Key: key(t)}, FarmID: 1, Name: "x1", Facts: &fakeFacts{}})
	if err := b.Run(ctx); !gridapi.IsStatus(err, 409) {
		t.Fatalf("second key with the same name: %v, want a 409 error", err)
	}
	cancel()
	<-done
}

// TestWatcher: Apply gets the initial state, then a farmer's public config change
// promptly; a failing Apply is retried.
func TestWatcher(t *testing.T) {
	reg := newRegServer(t)
	reg.start()
	ctx := context.Background()
	farmer := &gridapi.Client{Base: reg.url(), Key: key(t)}
	f, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	nodeC := &gridapi.Client{Base: reg.url(), Key: key(t)}
	n, err := nodeC.Register(ctx, gridapi.NodeRegister{FarmID: f.ID, Name: "farm1"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan gridapi.Desired, 10)
	fails := 1
	// the long-poll (30 s) outlasts every wait below: what arrives was woken by the change
	w := &Watcher{Client: nodeC, NodeID: n.ID, Timeout: 30 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Apply: func(_ context.Context, d gridapi.Desired) error {
			if d.PublicConfig != nil && fails > 0 {
				fails--
				return errors.New("networkd busy")
			}
			got <- d
			return nil
		}}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { cancel(); <-done }()
	first := <-got
	if first.PublicConfig != nil {
		t.Fatalf("initial state: %+v", first)
	}
	pc := gridapi.PublicConfig{IPv4: "198.51.100.10/24", GW4: "198.51.100.1"}
	if _, err := farmer.SetPublicConfig(ctx, n.ID, pc); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.PublicConfig == nil || *d.PublicConfig != pc || d.Revision <= first.Revision {
			t.Fatalf("after set: %+v", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watcher never applied the public config (a change must end the long-poll)")
	}
	// registry down: nothing is applied (the data plane stays as it is); back up: the
	// next change arrives
	reg.stop()
	time.Sleep(200 * time.Millisecond)
	select {
	case d := <-got:
		t.Fatalf("applied while the registry was down: %+v", d)
	default:
	}
	reg.start()
	pc.GW4 = "198.51.100.2"
	if _, err := farmer.SetPublicConfig(ctx, n.ID, pc); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.PublicConfig == nil || d.PublicConfig.GW4 != "198.51.100.2" {
			t.Fatalf("after the outage: %+v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watcher did not recover after the registry came back")
	}
}

// TestAgentDecidedEndpoints: a source that decides endpoints (networkd's status) is not
// second-guessed from the NICs; a public config still adds its addresses.
func TestAgentDecidedEndpoints(t *testing.T) {
	reg := newRegServer(t)
	reg.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := (&gridapi.Client{Base: reg.url(), Key: key(t)}).CreateFarm(ctx, gridapi.FarmCreate{Name: "f"}); err != nil {
		t.Fatal(err)
	}
	src := factsFunc(func(context.Context) (gridapi.NodeFacts, error) {
		return gridapi.NodeFacts{Hidden: true, Endpoints: []gridapi.Endpoint{},
			NICs: []gridapi.NIC{{Name: "zos", Addrs: []string{"2001:db8::5/64"}}}}, nil // global, but networkd says hidden
	})
	a := New(Config{Client: &gridapi.Client{Base: reg.url(), Key: key(t)}, FarmID: 1, Name: "n1", Facts: src, Heartbeat: time.Minute})
	go a.Run(ctx)
	anon := &gridapi.Client{Base: reg.url()}
	eventually(t, 5*time.Second, "hidden as the source said", func() bool {
		n, err := anon.Node(ctx, "n1")
		return err == nil && len(n.Facts.NICs) == 1 && n.Facts.Hidden && len(n.Facts.Endpoints) == 0
	})
	a.SetPublicConfig(&gridapi.PublicConfig{IPv4: "203.0.113.5/24", GW4: "203.0.113.1"})
	eventually(t, 5*time.Second, "public config endpoint", func() bool {
		n, err := anon.Node(ctx, "n1")
		return err == nil && !n.Facts.Hidden && len(n.Facts.Endpoints) == 1 && n.Facts.Endpoints[0].Reason == "public-config"
	})
}
