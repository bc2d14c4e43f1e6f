package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

// Node-side defaults: where a node keeps its identity and finds its settings.
const (
	DefaultStateDir = "/var/lib/zosnet"
	KeyFile         = "identity.key"    // in the state dir, made at first boot
	CAFile          = "registry-ca.crt" // in the state dir: CA bundle when zosnet.ca= is not given
)

// NodeOptions say where a node's settings come from; zero values mean the defaults.
type NodeOptions struct {
	Cmdline  string // kernel command line file; default /proc/cmdline
	StateDir string // default $ZOSNET_STATE_DIR, else /var/lib/zosnet
	Name     string // default $ZOSNET_NODE (the lab's node name), else the hostname
	Version  string
	WGPorts  func() []int // WireGuard ports in use, for the facts
	// Endpoints, when set, gives the endpoint candidates and hidden flag (networkd: from
	// its uplink status, see EndpointsOf); nil classifies the host's addresses.
	Endpoints func() ([]gridapi.Endpoint, bool)
	Log       *slog.Logger
}

// Node is a node's registry identity: its key, farm, name and a signing client.
type Node struct {
	Client *gridapi.Client
	Key    *identity.Key
	FarmID int64
	Name   string
	opts   NodeOptions
}

// LoadNode reads the kernel command line (farmer_id=, zosnet.registry=, zosnet.ca=),
// loads the node key from the state dir (creating it at first boot, mode 0600) and
// returns a client for the registry. The CA bundle is zosnet.ca=, else
// <state dir>/registry-ca.crt when it exists, else the system roots.
func LoadNode(o NodeOptions) (*Node, error) {
	if o.Cmdline == "" {
		o.Cmdline = "/proc/cmdline"
	}
	o.StateDir = firstOf(o.StateDir, os.Getenv("ZOSNET_STATE_DIR"), DefaultStateDir)
	if o.Name == "" {
		o.Name = os.Getenv("ZOSNET_NODE")
	}
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node name: %w", err)
		}
		o.Name = h
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cmdline.ReadFile(o.Cmdline)
	if err != nil {
		return nil, err
	}
	if cfg.Registry == nil || cfg.FarmerID == 0 {
		return nil, errors.New("node: kernel command line needs farmer_id= and zosnet.registry=")
	}
	k, created, err := identity.LoadOrCreate(filepath.Join(o.StateDir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	if created {
		o.Log.Info("nodeagent: created node key", "id", k.ID(), "dir", o.StateDir)
	}
	ca := cfg.CAFile
	if p := filepath.Join(o.StateDir, CAFile); ca == "" && exists(p) {
		ca = p
	}
	hc, err := gridapi.HTTPClient(ca)
	if err != nil {
		return nil, err
	}
	c := &gridapi.Client{Base: cfg.Registry.String(), HTTP: hc, Key: k}
	return &Node{Client: c, Key: k, FarmID: int64(cfg.FarmerID), Name: o.Name, opts: o}, nil
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// NewAgent returns an Agent for the node that reads facts from the calling process's
// network namespace with netlink and re-reports on every link or address change until
// ctx ends. networkd runs it: `go agent.Run(ctx)`.
func (n *Node) NewAgent(ctx context.Context) (*Agent, error) {
	changes, err := WatchChanges(ctx, -1)
	if err != nil {
		return nil, err
	}
	facts := &NetlinkFacts{Version: n.opts.Version, WGPorts: n.opts.WGPorts, Skip: InternalLink, Endpoints: n.opts.Endpoints}
	return New(Config{Client: n.Client, FarmID: n.FarmID, Name: n.Name, Version: n.opts.Version,
		Facts: facts, Changes: changes, Log: n.opts.Log}), nil
}

// Register registers the node (idempotent), retrying with backoff until it succeeds,
// ctx ends, or the registry refuses for good. provisiond uses it to learn its node id
// before watching.
func (n *Node) Register(ctx context.Context) (gridapi.Node, error) {
	bo := backoff{min: 500 * time.Millisecond, max: 30 * time.Second}
	for {
		nd, err := n.Client.Register(ctx, gridapi.NodeRegister{FarmID: n.FarmID, Name: n.Name, Version: n.opts.Version})
		if err == nil || permanent(err) {
			return nd, err
		}
		d := bo.next()
		n.opts.Log.Warn("nodeagent: registration failed, retrying", "err", err, "in", d.Round(time.Millisecond))
		if !sleep(ctx, d) {
			return nd, ctx.Err()
		}
	}
}

// NewWatcher registers the node and returns a Watcher that calls apply with every new
// desired state (provisiond: public config and network resources to networkd).
func (n *Node) NewWatcher(ctx context.Context, apply func(context.Context, gridapi.Desired) error) (*Watcher, error) {
	nd, err := n.Register(ctx)
	if err != nil {
		return nil, err
	}
	return &Watcher{Client: n.Client, NodeID: nd.ID, Apply: apply, Log: n.opts.Log}, nil
}

// Start is networkd's one call: it loads the node (LoadNode) and runs its Agent in the
// background until ctx ends, logging a registration the registry refuses for good. It
// fails only when the node cannot be set up (command line, key, CA bundle).
func Start(ctx context.Context, o NodeOptions) (*Agent, error) {
	n, err := LoadNode(o)
	if err != nil {
		return nil, err
	}
	a, err := n.NewAgent(ctx)
	if err != nil {
		return nil, err
	}
	go func() {
		if err := a.Run(ctx); err != nil {
			n.opts.Log.Error("nodeagent: the registry refused this node", "err", err)
		}
	}()
	return a, nil
}

// Watch is provisiond's one call: it loads the node, registers it and calls apply with
// every new desired state until ctx ends.
func Watch(ctx context.Context, o NodeOptions, apply func(context.Context, gridapi.Desired) error) error {
	n, err := LoadNode(o)
	if err != nil {
		return err
	}
	w, err := n.NewWatcher(ctx, apply)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
