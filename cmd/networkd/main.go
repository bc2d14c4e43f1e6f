// Command networkd is the node's network daemon: network resources (NRs), workloads,
// the local API on a unix socket and Prometheus metrics. See internal/networkd.
//
//	networkd --state-dir /var/lib/zosnet/networkd --socket /run/zosnet/networkd.sock \
//	         --netns-dir /run/netns --metrics 127.0.0.1:9101 --resync 30s
//
// Talk to it with `zosnet node nr list|show|apply|rm`, `zosnet node wg show` and
// `zosnet node workload add|rm|list` (all with --json and --socket).
//
// State: <state-dir>/state.json holds the desired NRs (with their listen ports) and
// workloads, written atomically; <state-dir>/keys/nr-<id>.key holds each NR's WireGuard
// private key (mode 0600, never returned by the API); endpoints.json remembers where
// hidden peers last spoke from. At start networkd re-applies that state without any
// registry; every --resync it re-applies it again (restoring objects deleted behind
// its back) and removes objects named as its own (n-/b-/v-/c-/t- + id, wl- namespaces)
// that nothing wants.
//
// WireGuard: the kernel module when the kernel has it, else wireguard-go inside this
// process (--wireguard auto|kernel|userspace). Userspace devices live and die with
// the process: a restart (or a crash) removes their links until networkd is back,
// then recreates them from the persisted state with the same keys and ports, so peers
// keep working after one handshake.
//
// One networkd per socket: while another networkd answers on --socket this one exits
// 1 with "in use" before touching anything (a socket left by a crash is replaced).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/networkd"
	"github.com/zosnet/zosnet/internal/wg"
)

func main() {
	var cfg networkd.Config
	var kind, level string
	var pmin, pmax uint
	flag.StringVar(&cfg.StateDir, "state-dir", "/var/lib/zosnet/networkd", "desired state and keys")
	flag.StringVar(&cfg.Socket, "socket", localapi.DefaultSocket, "local API unix socket")
	flag.StringVar(&cfg.NetnsDir, "netns-dir", "/run/netns", "directory of named network namespaces")
	flag.StringVar(&cfg.MetricsAddr, "metrics", "", "TCP address for /metrics (e.g. 127.0.0.1:9101; empty: only on the socket)")
	flag.DurationVar(&cfg.Resync, "resync", 0, "period of the reconcile that restores deleted objects (default 30s)")
	flag.StringVar(&kind, "wireguard", "auto", "WireGuard implementation: auto, kernel or userspace")
	flag.UintVar(&pmin, "port-min", 3000, "lowest WireGuard listen port the node allocates")
	flag.UintVar(&pmax, "port-max", 3999, "highest WireGuard listen port the node allocates")
	flag.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	flag.StringVar(&cfg.ResolvConf, "resolv-conf", networkd.DefaultResolvConf(), "the node's name servers (netinit writes them), for the workloads' DNS forwarder in ndmz")
	flag.StringVar(&cfg.Uplinks, "uplinks", "", "manage ndmz, br-pub and the public namespace: on, off, or empty = once the zos bridge exists")
	flag.Parse()
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		fail(fmt.Errorf("--log-level: %w", err))
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	switch kind {
	case "auto":
		cfg.WGKind = wg.Auto
	case "kernel", "userspace":
		cfg.WGKind = wg.Kind(kind)
	default:
		fail(fmt.Errorf("--wireguard %q: want auto, kernel or userspace", kind))
	}
	if pmin == 0 || pmax < pmin || pmax > 65535 {
		fail(fmt.Errorf("--port-min/--port-max %d-%d: want 1 ≤ min ≤ max ≤ 65535", pmin, pmax))
	}
	cfg.PortMin, cfg.PortMax = uint16(pmin), uint16(pmax)
	if cfg.Uplinks != networkd.UplinksAuto && cfg.Uplinks != networkd.UplinksOn && cfg.Uplinks != networkd.UplinksOff {
		fail(fmt.Errorf("--uplinks %q: want on, off or empty (auto)", cfg.Uplinks))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := networkd.New(cfg)
	if err != nil {
		fail(err)
	}
	if err := d.Serve(ctx); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "networkd:", err)
	os.Exit(1)
}
