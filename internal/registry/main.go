package registry

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/zosnet/zosnet/internal/registry/ca"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Main is the `registry` command: serve (the default) or `ca init|issue`. It returns
// the exit code. ctx ends the server (graceful shutdown; long-polls answer at once).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "ca":
		err = caMain(args[1:], stdout, stderr)
	default:
		err = serveMain(ctx, args, stderr)
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "registry:", err)
	if strings.HasPrefix(err.Error(), "usage") {
		return 2
	}
	return 1
}

// ServeOptions are the flags of `registry`.
type ServeOptions struct {
	DB, Listen, TLSCert, TLSKey string
	InsecureHTTP                bool
	Rate                        float64
	Burst                       int
	MaxBody                     int64
	MaxInflight                 int               // requests in the store at once before 503 + Retry-After
	Pprof                       string            // loopback address serving net/http/pprof ("": off)
	Ready                       func(addr string) // called with the bound address (tests)
}

func serveMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o ServeOptions
	def := envDefaults()
	fs.StringVar(&o.DB, "db", def.DB, "SQLite file, or a postgres:// DSN ($ZOSNET_DB)")
	fs.StringVar(&o.Listen, "listen", def.Listen, "address to listen on ($ZOSNET_LISTEN)")
	fs.StringVar(&o.TLSCert, "tls-cert", def.TLSCert, "TLS certificate (PEM; default $ZOSNET_STATE_DIR/tls/server.crt if present)")
	fs.StringVar(&o.TLSKey, "tls-key", def.TLSKey, "TLS key (PEM; default $ZOSNET_STATE_DIR/tls/server.key if present)")
	fs.BoolVar(&o.InsecureHTTP, "insecure-http", false, "serve plain HTTP (no TLS): only on trusted networks")
	fs.Float64Var(&o.Rate, "rate", 200, "requests per second per client address")
	fs.IntVar(&o.Burst, "burst", 400, "request burst per client address")
	fs.Int64Var(&o.MaxBody, "max-body", 1<<20, "largest request body in bytes")
	fs.IntVar(&o.MaxInflight, "max-inflight", 64, "requests working in the database at once; beyond, 503 with Retry-After")
	fs.StringVar(&o.Pprof, "pprof", "", "serve Go profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060 (off when empty)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: registry [flags]            serve the grid database\n"+
			"       registry ca init --dir DIR   make a CA (ca.crt is the bundle clients trust)\n"+
			"       registry ca issue --dir DIR --host IP[,NAME...] --out PREFIX\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("usage: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return Serve(ctx, o, log)
}

// envDefaults are the flag defaults from the environment, as zoslab starts the
// registry without arguments: ZOSNET_DB, ZOSNET_LISTEN, and ZOSNET_STATE_DIR (database
// grid.db there; TLS certificate and key from its tls/ directory when present).
func envDefaults() ServeOptions {
	o := ServeOptions{DB: os.Getenv("ZOSNET_DB"), Listen: os.Getenv("ZOSNET_LISTEN")}
	state := os.Getenv("ZOSNET_STATE_DIR")
	if o.DB == "" {
		o.DB = "./grid.db"
		if state != "" {
			o.DB = filepath.Join(state, "grid.db")
		}
	}
	if o.Listen == "" {
		o.Listen = ":8443"
	}
	if state != "" {
		crt, key := filepath.Join(state, "tls", "server.crt"), filepath.Join(state, "tls", "server.key")
		if _, err := os.Stat(crt); err == nil {
			o.TLSCert, o.TLSKey = crt, key
		}
	}
	return o
}

// Serve runs the registry until ctx ends.
func Serve(ctx context.Context, o ServeOptions, log *slog.Logger) error {
	tlsOn := o.TLSCert != "" || o.TLSKey != ""
	if tlsOn && (o.TLSCert == "" || o.TLSKey == "") {
		return errors.New("usage: --tls-cert and --tls-key go together")
	}
	if !tlsOn && !o.InsecureHTTP {
		return errors.New("usage: give --tls-cert and --tls-key, or --insecure-http to serve plain HTTP")
	}
	if o.Pprof != "" {
		pl, err := listenPprof(o.Pprof)
		if err != nil {
			return err
		}
		defer pl.Close()
		go http.Serve(pl, pprofMux())
		log.Info("profiles served", "addr", pl.Addr().String()+"/debug/pprof/")
	}
	st, err := Open(ctx, o.DB, log)
	if err != nil {
		return err
	}
	defer st.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := New(sctx, Config{Store: st, Log: log, Rate: o.Rate, Burst: o.Burst, MaxBody: o.MaxBody, MaxInflight: o.MaxInflight})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return sctx }}
	log.Info("registry serving", "addr", ln.Addr().String(), "tls", tlsOn, "db", dialectFor(o.DB).describe(o.DB))
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- hs.ServeTLS(ln, o.TLSCert, o.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancel() // long-polls answer now
	shut, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	return hs.Shutdown(shut)
}

func caMain(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: registry ca init --dir DIR | registry ca issue --dir DIR --host IP[,NAME...] --out PREFIX")
	}
	fs := flag.NewFlagSet("registry ca "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "CA directory (ca.crt, ca.key)")
	name := fs.String("name", "zosnet lab CA", "CA common name (init)")
	hosts := fs.String("host", "", "comma-separated IPs/names the server certificate is for (issue)")
	out := fs.String("out", "", "output prefix: PREFIX.crt and PREFIX.key (issue)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("usage: %w", err)
	}
	if *dir == "" {
		return errors.New("usage: --dir is required")
	}
	switch args[0] {
	case "init":
		if err := ca.Init(*dir, *name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CA created; trust bundle: %s/%s\n", *dir, ca.CertFile)
		return nil
	case "issue":
		if *out == "" {
			return errors.New("usage: --out is required")
		}
		if err := ca.IssueServer(*dir, strings.Split(*hosts, ","), *out+".crt", *out+".key"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "certificate %s.crt, key %s.key\n", *out, *out)
		return nil
	}
	return fmt.Errorf("usage: unknown ca command %q (init, issue)", args[0])
}

// listenPprof listens on addr for the profiles; only loopback addresses are accepted
// (the profiles are unauthenticated and show the registry's memory).
func listenPprof(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("usage: --pprof %q: %v (want host:port, e.g. 127.0.0.1:6060)", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("usage: --pprof %q: only a loopback address (127.0.0.1, ::1, localhost): profiles are unauthenticated", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	return ln, nil
}

// pprofMux serves net/http/pprof's index and profiles under /debug/pprof/.
func pprofMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
