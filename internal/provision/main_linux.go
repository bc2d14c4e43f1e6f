package provision

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
)

// Version is reported to the registry.
const Version = "zosnet-provisiond/0.1"

// Main is the provisiond command; it returns when ctx ends or on a fatal error.
// The node's settings come from nodeagent.LoadNode: the kernel command line
// (farmer_id=, zosnet.registry=, zosnet.ca=), ZOSNET_STATE_DIR (the node key
// identity.key is created there at first boot; registry-ca.crt is trusted when
// zosnet.ca= is not given) and ZOSNET_NODE (the node's name).
//
// provisiond also runs the node agent (registration, facts, heartbeats): it is the
// node's one voice towards the registry, while networkd only serves the local API.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("provisiond", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o nodeagent.NodeOptions
	fs.StringVar(&o.Cmdline, "cmdline", "/proc/cmdline", "kernel command line file")
	fs.StringVar(&o.StateDir, "state-dir", "", "the node's state directory (default $ZOSNET_STATE_DIR, else /var/lib/zosnet)")
	fs.StringVar(&o.Name, "name", "", "node name (default $ZOSNET_NODE, else the host name)")
	sock := fs.String("socket", localapi.DefaultSocket, "networkd's local API socket")
	var cfg Config
	fs.DurationVar(&cfg.Interval, "probe-interval", 0, "overlay probe and failover period (default 2s)")
	fs.DurationVar(&cfg.RelayProbe, "relay-probe-interval", 0, "how often the members behind the relays are probed; the relays twice as often (default 500ms)")
	fs.DurationVar(&cfg.DownAfter, "relay-down-after", 0, "relay silence before its relay groups fail over (default 2s: eight probes to the relay)")
	fs.DurationVar(&cfg.Hold, "relay-hold", 0, "primary relay health needed before moving back (default 20s, doubled per flap up to 5m)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics (the gateway's, relay failover) on this TCP address; empty: none")
	fs.StringVar(&cfg.NetnsDir, "netns-dir", "", "where networkd's namespaces are (default /run/netns)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Networkd = localapi.NewClient(*sock)
	o.Version, o.Log = Version, cfg.Log
	cfg.Conn = &nodeagent.Conn{}
	o.Conn = cfg.Conn
	o.WGPorts = func() []int { return wgPorts(ctx, cfg.Networkd) }
	o.Endpoints = func() ([]gridapi.Endpoint, bool) { return endpointsOf(ctx, cfg.Networkd) }
	node, err := nodeagent.LoadNode(o)
	if err != nil {
		return err
	}
	keepAlive(node.Client.HTTP)
	cfg.Registry, cfg.RegistryURL = node.Client, node.Client.Base
	if cfg.Agent, err = node.NewAgent(ctx); err != nil {
		return err
	}
	cl, err := cmdline.ReadFile(firstNonEmpty(o.Cmdline, "/proc/cmdline"))
	if err != nil {
		return err
	}
	cfg.Punch = cl.Punch
	ng, err := startGateway(ctx, o, &cfg, *metricsAddr)
	if err != nil {
		return err
	}
	defer ng.close()
	return New(cfg).Run(ctx)
}

// startGateway makes the node's gateway (serving its persisted config at once, before
// any registry answer) and wires it into cfg; ACME comes from zosnet.acme=.
func startGateway(ctx context.Context, o nodeagent.NodeOptions, cfg *Config, metricsAddr string) (*nodeGateway, error) {
	cl, err := cmdline.ReadFile(firstNonEmpty(o.Cmdline, "/proc/cmdline"))
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	gopts := GatewayOptions{StateDir: firstNonEmpty(o.StateDir, os.Getenv("ZOSNET_STATE_DIR"), nodeagent.DefaultStateDir),
		NetnsDir: firstNonEmpty(cfg.NetnsDir, "/run/netns"), CAFile: cl.CAFile, Metrics: reg, Log: cfg.Log}
	if cl.ACME != nil {
		gopts.ACME = cl.ACME.String()
	}
	if gopts.CAFile == "" {
		if p := gopts.StateDir + "/registry-ca.crt"; fileExists(p) {
			gopts.CAFile = p
		}
	}
	ng, err := newNodeGateway(gopts)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	go ng.restore(ctx)
	cfg.Gateway, cfg.GatewayFW, cfg.Reporter = ng, cfg.Networkd.(*localapi.Client), cfg.Registry.(*gridapi.Client)
	if metricsAddr != "" {
		l, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			ng.close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { <-ctx.Done(); srv.Close() }()
		go func() { _ = srv.Serve(l) }()
	}
	return ng, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// keepAlive makes requests on a dead connection fail fast: the node's addresses and
// routes change under provisiond while networkd sets up its uplinks, and a registry
// connection that silently died would otherwise hang every request (the agent's
// heartbeats included) until the client's 150 s timeout. HTTP/2 pings find a dead
// connection within 15 s; no request outlives 60 s (long-polls take 30 s).
func keepAlive(hc *http.Client) {
	if tr, ok := hc.Transport.(*http.Transport); ok {
		tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: 5 * time.Second}
	}
	hc.Timeout = 60 * time.Second
}
