package registry

import (
	"bytes"
	"context"
	"github.com/zosnet/zosnet/internal/registry/ca"
	"path/filepath"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestServeTLS makes a CA and a server certificate for 127.0.0.1, serves HTTPS, and
// talks to it with a client that trusts only that CA; a client without it is refused.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"ca", "init", "--dir", filepath.Join(dir, "ca")}, &out, &out); code != 0 {
		t.Fatalf("ca init: %s", out.String())
	}
	if code := Main(context.Background(), []string{"ca", "issue", "--dir", filepath.Join(dir, "ca"), "--host", "127.0.0.1,localhost",
		"--out", filepath.Join(dir, "server")}, &out, &out); code != 0 {
		t.Fatalf("ca issue: %s", out.String())
	}
	if code := Main(context.Background(), []string{"ca", "init", "--dir", filepath.Join(dir, "ca")}, &out, &out); code == 0 {
		t.Fatal("ca init over an existing CA must fail")
	}
	if code := Main(context.Background(), []string{"--db", filepath.Join(dir, "g.db")}, &out, &out); code != 2 {
		t.Fatalf("serving without TLS and without --insecure-http: code %d, want 2", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{DB: filepath.Join(dir, "g.db"), Listen: "127.0.0.1:0",
			TLSCert: filepath.Join(dir, "server.crt"), TLSKey: filepath.Join(dir, "server.key"),
			Ready: func(a string) { addr <- a }}, testLog())
	}()
	var base string
	select {
	case a := <-addr:
		base = "https://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	hc, err := gridapi.HTTPClient(filepath.Join(dir, "ca", ca.CertFile))
	mustOK(t, err)
	c := &gridapi.Client{Base: base, HTTP: hc, Key: newKey(t)}
	if _, err := c.CreateFarm(ctx, gridapi.FarmCreate{Name: "tls"}); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	// a long-poll in flight must not hold up shutdown
	go func() { _, _ = c.Desired(context.Background(), 1, 1<<40, time.Minute) }()
	if _, err := (&gridapi.Client{Base: base}).Health(ctx); err == nil {
		t.Fatal("client without the CA must refuse the certificate")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown hung")
	}
}

func TestEnvDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZOSNET_DB", "")
	t.Setenv("ZOSNET_LISTEN", "198.51.100.10:8443")
	t.Setenv("ZOSNET_STATE_DIR", dir)
	o := envDefaults()
	if o.DB != filepath.Join(dir, "grid.db") || o.Listen != "198.51.100.10:8443" || o.TLSCert != "" {
		t.Fatalf("without certificates: %+v", o)
	}
	mustOK(t, ca.Init(filepath.Join(dir, "ca"), "t"))
	mustOK(t, ca.IssueServer(filepath.Join(dir, "ca"), []string{"198.51.100.10"}, filepath.Join(dir, "tls", "server.crt"), filepath.Join(dir, "tls", "server.key")))
	if o = envDefaults(); o.TLSCert != filepath.Join(dir, "tls", "server.crt") || o.TLSKey != filepath.Join(dir, "tls", "server.key") {
		t.Fatalf("with certificates: %+v", o)
	}
}
