package provision

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"time"

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
	fs.DurationVar(&cfg.DownAfter, "relay-down-after", 0, "relay silence before failover (default 10s)")
	fs.DurationVar(&cfg.Hold, "relay-hold", 0, "relay health needed before moving back (default 20s)")
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
	return New(cfg).Run(ctx)
}

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
