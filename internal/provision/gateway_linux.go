package provision

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zosnet/zosnet/internal/gateway"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/store"
)

// PublicNS is the name of the namespace the farmer's public config lives in (package
// public): the gateway listens there and nowhere else.
const PublicNS = "public"

// nsListener opens sockets inside a named namespace.
type nsListener struct{ dir, name string }

func (l nsListener) do(fn func() error) error {
	ns, err := netns.OpenNamed(l.dir, l.name)
	if err != nil {
		return fmt.Errorf("no %s namespace (the node's public config is not applied yet): %w", l.name, err)
	}
	defer ns.Close()
	return ns.Do(fn)
}

func (l nsListener) Listen(ctx context.Context, network, addr string) (ln net.Listener, err error) {
	err = l.do(func() error { ln, err = (&net.ListenConfig{}).Listen(ctx, network, addr); return err })
	return ln, err
}

func (l nsListener) ListenPacket(ctx context.Context, network, addr string) (pc net.PacketConn, err error) {
	err = l.do(func() error { pc, err = (&net.ListenConfig{}).ListenPacket(ctx, network, addr); return err })
	return pc, err
}

// nrDialer dials backends from the network resource's namespace n-<id>: the gateway
// reaches them over the user's mesh, and only them (networkd's gateway table).
type nrDialer struct{ dir string }

func (d nrDialer) DialContext(ctx context.Context, network, netID string, addr netip.AddrPort) (c net.Conn, err error) {
	ns, err := netns.OpenNamed(d.dir, resource.NamesOf(netID).NS)
	if err != nil {
		return nil, fmt.Errorf("network %s is not on this node yet: %w", netID, err)
	}
	defer ns.Close()
	err = ns.Do(func() error { c, err = (&net.Dialer{}).DialContext(ctx, network, addr.String()); return err })
	return c, err
}

// nodeGateway is the gateway of a node: listeners in the public namespace, backends
// dialled in the NR namespaces, certificates from ACME when configured, and the config
// persisted in <state dir>/gateway so that a restart serves at once, without the
// registry.
type nodeGateway struct {
	srv  *gateway.Server
	acme *gateway.ACME
	dir  *store.Dir
	log  *slog.Logger

	mu      sync.Mutex
	started bool
	gen     int // Apply calls; a restore gives way to a newer Apply
}

// GatewayOptions configure the node's gateway.
type GatewayOptions struct {
	StateDir, NetnsDir string
	ACME               string // ACME directory URL; "" = no terminated names
	CAFile             string // extra CAs for the ACME directory's TLS
	Metrics            prometheus.Registerer
	Log                *slog.Logger
}

func newNodeGateway(o GatewayOptions) (*nodeGateway, error) {
	dir, err := store.Open(o.StateDir + "/gateway")
	if err != nil {
		return nil, err
	}
	g := &nodeGateway{dir: dir, log: o.Log}
	opts := gateway.Options{Listener: nsListener{o.NetnsDir, PublicNS}, Dialer: nrDialer{o.NetnsDir}, Log: o.Log, Metrics: o.Metrics}
	if g.srv, err = gateway.New(opts); err != nil {
		return nil, err
	}
	if o.ACME != "" {
		hc, err := acmeHTTP(o.CAFile)
		if err != nil {
			return nil, err
		}
		g.acme, err = gateway.NewACME(gateway.ACMEOptions{Directory: o.ACME, HTTP: hc, Store: dir, Allowed: g.srv.TerminatedName, Log: o.Log})
		if err != nil {
			return nil, err
		}
		g.srv.SetCerts(g.acme)
	}
	return g, nil
}

// acmeHTTP trusts the system roots and caFile.
func acmeHTTP(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ACME CA bundle: %w", err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// Apply implements Gateway: the web listeners open with the first route, the config
// applies (all or nothing), is persisted, and new terminated names get their
// certificate in the background.
func (g *nodeGateway) Apply(ctx context.Context, cfg gateway.Config) error {
	g.mu.Lock()
	g.gen++
	g.mu.Unlock()
	return g.apply(ctx, cfg, true)
}

func (g *nodeGateway) apply(ctx context.Context, cfg gateway.Config, persist bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(cfg.Routes) > 0 && !g.started {
		if err := g.srv.Start(ctx); err != nil {
			return err
		}
		g.started = true
	}
	before := g.srv.Table()
	if err := g.srv.Apply(ctx, cfg); err != nil {
		return err
	}
	if persist {
		if err := gateway.SaveConfig(g.dir, cfg); err != nil {
			return err
		}
	}
	if g.acme != nil {
		for _, r := range g.srv.Table().Routes() {
			if r.TLS == gridapi.TLSTerminate && before.HTTP(r.FQDN) == nil {
				go func(name string) {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					if err := g.acme.Ensure(ctx, name); err != nil {
						g.log.Warn("gateway: certificate", "name", name, "err", err)
					}
				}(r.FQDN)
			}
		}
	}
	return nil
}

// Status implements Gateway.
func (g *nodeGateway) Status() map[string]gridapi.ExposureReport { return g.srv.Status() }

// restore serves the persisted config, retrying every second until it applies (the
// public namespace may not exist yet at boot), ctx ends, or a newer Apply came.
func (g *nodeGateway) restore(ctx context.Context) {
	cfg, err := gateway.LoadConfig(g.dir)
	if err != nil {
		g.log.Warn("gateway: persisted config", "err", err)
		return
	}
	if len(cfg.Routes) == 0 {
		return
	}
	for {
		g.mu.Lock()
		newer := g.gen > 0
		g.mu.Unlock()
		if newer {
			return
		}
		err := g.apply(ctx, cfg, false)
		if err == nil {
			g.log.Info("gateway: serving the persisted config", "routes", len(cfg.Routes))
			return
		}
		g.log.Debug("gateway: persisted config not applied yet", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// close stops the gateway.
func (g *nodeGateway) close() {
	if g.acme != nil {
		g.acme.Close()
	}
	g.srv.Close()
}
