package provision

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
)

// Version is reported to the registry.
const Version = "zosnet-provisiond/0.1"

// Main is the provisiond command; it returns when ctx ends or on a fatal error.
// Configuration: the kernel command line (farmer_id=, zosnet.registry=, zosnet.ca=;
// without zosnet.ca, <state dir>/ca.crt is trusted when it exists), ZOSNET_STATE_DIR
// (default /var/lib/zosnet; the node key is <state dir>/provisiond/node.key, created at
// first boot) and ZOSNET_NODE (the node's name; default the host name).
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("provisiond", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state-dir", envOr("ZOSNET_STATE_DIR", "/var/lib/zosnet"), "the node's state directory")
	cmdFile := fs.String("cmdline", "/proc/cmdline", "kernel command line file")
	sock := fs.String("socket", localapi.DefaultSocket, "networkd's local API socket")
	name := fs.String("name", os.Getenv("ZOSNET_NODE"), "node name (default: host name)")
	var cfg Config
	fs.DurationVar(&cfg.Interval, "probe-interval", 0, "overlay probe and failover period (default 2s)")
	fs.DurationVar(&cfg.DownAfter, "relay-down-after", 0, "relay silence before failover (default 10s)")
	fs.DurationVar(&cfg.Hold, "relay-hold", 0, "relay health needed before moving back (default 20s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))
	if *name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w (use --name)", err)
		}
		*name = h
	}
	kc, err := cmdline.ReadFile(*cmdFile)
	if err != nil {
		return err
	}
	if kc.Registry == nil || kc.FarmerID == 0 {
		return fmt.Errorf("%s: need farmer_id= and zosnet.registry=", *cmdFile)
	}
	client, err := registryClient(kc, *state, cfg.Log)
	if err != nil {
		return err
	}
	cfg.Registry, cfg.Networkd = client, localapi.NewClient(*sock)
	cfg.Agent, err = agent(ctx, cfg, kc.FarmerID, *name)
	if err != nil {
		return err
	}
	return New(cfg).Run(ctx)
}

// registryClient loads or creates the node key and trusts the registry's CA.
func registryClient(kc cmdline.Config, state string, log *slog.Logger) (*gridapi.Client, error) {
	key, created, err := identity.LoadOrCreate(filepath.Join(state, "provisiond", "node.key"))
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	log.Info("node key", "id", key.ID(), "created", created)
	ca := kc.CAFile
	if ca == "" {
		if _, err := os.Stat(filepath.Join(state, "ca.crt")); err == nil {
			ca = filepath.Join(state, "ca.crt")
		}
	}
	hc, err := gridapi.HTTPClient(ca)
	if err != nil {
		return nil, err
	}
	hc.Timeout = 0 // long-polls carry their own deadline
	return &gridapi.Client{Base: strings.TrimSuffix(kc.Registry.String(), "/"), HTTP: hc, Key: key}, nil
}

// agent builds the node agent: facts from netlink in this namespace (overlay links left
// out), WireGuard ports from networkd, re-read on every link or address change.
func agent(ctx context.Context, cfg Config, farm uint64, name string) (*nodeagent.Agent, error) {
	changes, err := nodeagent.WatchChanges(ctx, -1)
	if err != nil {
		return nil, err
	}
	nd := cfg.Networkd
	facts := &nodeagent.NetlinkFacts{Skip: overlayLink, Version: Version, WGPorts: func() []int {
		nrs, err := nd.ListNRs(ctx)
		if err != nil {
			return nil
		}
		var ports []int
		for _, nr := range nrs {
			ports = append(ports, int(nr.Status.ListenPort))
		}
		return ports
	}}
	return nodeagent.New(nodeagent.Config{Client: cfg.Registry, FarmID: int64(farm), Name: name, Version: Version,
		Facts: facts, Changes: changes, Log: cfg.Log}), nil
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}
