package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

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
	// Endpoints, when set, gives the endpoint candidates and hidden flag (provisiond: from
	// networkd's uplink status); nil classifies the host's addresses.
	Endpoints func() ([]gridapi.Endpoint, bool)
	// Conn, when set, records the registry connection of the node's agent.
	Conn *Conn
	Log  *slog.Logger
}

// Node is a node's registry identity: its key, farm, name and a signing client.
type Node struct {
	Client *gridapi.Client
	Key    *identity.Key
	FarmID int64
	Name   string
	// RelayWeight is zosnet.relay_weight= (0: absent), reported in the facts.
	RelayWeight int
	opts        NodeOptions
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
	return &Node{Client: c, Key: k, FarmID: int64(cfg.FarmerID), Name: o.Name, RelayWeight: cfg.RelayWeight, opts: o}, nil
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
// ctx ends. provisiond runs it (`go agent.Run(ctx)`) and learns the node's id from it.
func (n *Node) NewAgent(ctx context.Context) (*Agent, error) {
	changes, err := WatchChanges(ctx, -1)
	if err != nil {
		return nil, err
	}
	facts := &NetlinkFacts{Version: n.opts.Version, WGPorts: n.opts.WGPorts, Skip: internalLink, Endpoints: n.opts.Endpoints,
		RelayWeight: n.RelayWeight}
	return New(Config{Client: n.Client, FarmID: n.FarmID, Name: n.Name, Version: n.opts.Version,
		Facts: facts, Changes: changes, Conn: n.opts.Conn, Log: n.opts.Log}), nil
}
