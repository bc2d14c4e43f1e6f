package registry

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

// backend is one storage backend every API test runs against.
type backend struct {
	name string
	open func(t testing.TB) Store
}

func openStore(t testing.TB, db string) Store {
	t.Helper()
	st, err := Open(context.Background(), db, testLog())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var backends = []backend{
	{"sqlite", func(t testing.TB) Store { return openStore(t, filepath.Join(t.TempDir(), "grid.db")) }},
	{"postgres", func(t testing.TB) Store { return openStore(t, newPGDatabase(t)) }},
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, st Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

func testLog() *slog.Logger {
	if os.Getenv("ZOSNET_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// serve starts a server on st over plain HTTP on loopback.
func serve(t testing.TB, st Store, cfg Config) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Store, cfg.Log = st, testLog()
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); cancel() })
	return hs
}

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// world is a registry with a farm, two nodes and a user.
type world struct {
	url            string
	farmer, user   *gridapi.Client
	nodeA, nodeB   *gridapi.Client
	anon           *gridapi.Client
	farm           gridapi.Farm
	idA, idB       int64
	farmerK, userK *identity.Key
}

func newWorld(t testing.TB, st Store, cfg ...Config) *world {
	t.Helper()
	// all test clients share 127.0.0.1: no rate limit unless asked (TestRateLimited)
	hs := serve(t, st, append(cfg, Config{Rate: 1e6, Burst: 1e6})[0])
	w := &world{url: hs.URL, farmerK: newKey(t), userK: newKey(t)}
	w.farmer = &gridapi.Client{Base: hs.URL, Key: w.farmerK}
	w.user = &gridapi.Client{Base: hs.URL, Key: w.userK}
	w.nodeA = &gridapi.Client{Base: hs.URL, Key: newKey(t)}
	w.nodeB = &gridapi.Client{Base: hs.URL, Key: newKey(t)}
	w.anon = &gridapi.Client{Base: hs.URL}
	ctx := context.Background()
	var err error
	if w.farm, err = w.farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "farm-" + time.Now().Format("150405.000")}); err != nil {
		t.Fatalf("create farm: %v", err)
	}
	a, err := w.nodeA.Register(ctx, gridapi.NodeRegister{FarmID: w.farm.ID, Name: "farm1", Version: "test"})
	if err != nil {
		t.Fatalf("register A: %v", err)
	}
	b, err := w.nodeB.Register(ctx, gridapi.NodeRegister{FarmID: w.farm.ID, Name: "home1"})
	if err != nil {
		t.Fatalf("register B: %v", err)
	}
	w.idA, w.idB = a.ID, b.ID
	return w
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

const wgKey1 = "GUFQ7JTLW+8i4P0ZZRaTCZ3WBi4oSH4JzRsmpgYYXQE="
const wgKey2 = "r1FJwTZZtgNRA0Me0kExYyZ8ZsfjmIpHRmtvO1CUhwI="

// watchersMetric reads zosnet_registry_watchers from /metrics.
func watchersMetric(t testing.TB, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	mustOK(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "zosnet_registry_watchers "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	t.Fatal("no zosnet_registry_watchers metric")
	return 0
}
