package registry

import (
	"bytes"
	"context"
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
	hc, err := gridapi.HTTPClient(filepath.Join(dir, "ca", CACertFile))
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
