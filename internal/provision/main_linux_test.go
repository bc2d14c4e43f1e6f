package provision

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/registry"
)

// lockedBuffer is Main's stderr, read while Main writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMainRefusesBadInput: an unknown flag and a command line without the registry
// stop provisiond with an error saying what is missing.
func TestMainRefusesBadInput(t *testing.T) {
	var out lockedBuffer
	if err := Main(context.Background(), []string{"-no-such-flag"}, &out); err == nil || !strings.Contains(out.String(), "no-such-flag") {
		t.Errorf("unknown flag: %v, %q", err, out.String())
	}
	dir := t.TempDir()
	cl := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(cl, []byte("quiet farmer_id=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Main(context.Background(), []string{"-cmdline", cl, "-state-dir", dir, "-name", "n1"}, &out)
	if err == nil || !strings.Contains(err.Error(), "zosnet.registry=") {
		t.Errorf("no registry on the command line: %v", err)
	}
}

// TestMainRegistersAndStops runs provisiond's Main against the real registry (SQLite,
// httptest) with no networkd behind its socket: the node key is created, the node
// registers with the farm and reports facts, and Main returns when its context ends.
func TestMainRegistersAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	st, err := registry.OpenSQLite(ctx, filepath.Join(t.TempDir(), "grid.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := registry.New(ctx, registry.Config{Store: st, Log: log, Rate: 1e6, Burst: 1e6, WatchTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	fk, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	farm, err := (&gridapi.Client{Base: hs.URL, Key: fk}).CreateFarm(ctx, gridapi.FarmCreate{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cl := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(cl, []byte("farmer_id="+itoa(farm.ID)+" zosnet.registry="+hs.URL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-cmdline", cl, "-state-dir", dir, "-name", "n1", "-socket", filepath.Join(dir, "none.sock"),
			"-probe-interval", "50ms"}, &out)
	}()
	anon := &gridapi.Client{Base: hs.URL}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := anon.Node(ctx, "n1")
		// the registry knows the node before the node has read the registry's answer:
		// wait for its log line too
		if err == nil && n.FarmID == farm.ID && n.Facts.Version == Version && strings.Contains(out.String(), "registered") {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Main returned before the node registered: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node n1 not registered with facts: %+v %v\n%s", n, err, out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the registry, bounded by the deadline
	}
	if _, err := os.Stat(filepath.Join(dir, "identity.key")); err != nil {
		t.Errorf("node key: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Main after its context ended: %v", err)
	}
	if !strings.Contains(out.String(), "registered") {
		t.Errorf("log does not say the node registered:\n%s", out.String())
	}
}

// TestKeepAlive: requests get a bound and HTTP/2 pings find a dead connection.
func TestKeepAlive(t *testing.T) {
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	keepAlive(hc)
	tr := hc.Transport.(*http.Transport)
	if hc.Timeout != 60*time.Second || tr.HTTP2 == nil || tr.HTTP2.PingTimeout == 0 || tr.HTTP2.SendPingTimeout == 0 {
		t.Errorf("timeout %v, http2 %+v", hc.Timeout, tr.HTTP2)
	}
	other := &http.Client{Transport: http.NewFileTransport(http.Dir("/nonexistent"))}
	keepAlive(other) // not an *http.Transport: only the timeout
	if other.Timeout != 60*time.Second {
		t.Errorf("timeout %v", other.Timeout)
	}
}

func itoa(n int64) string {
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
