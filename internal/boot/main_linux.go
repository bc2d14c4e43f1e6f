package boot

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/zosnet/zosnet/internal/cmdline"
)

// Files in the run directory.
const (
	LeaseFile  = "lease.json"   // the DHCP lease on zos, kept current by the keeper
	ResultFile = "netinit.json" // what netinit configured
	KeeperLock = "keeper.lock"  // held (flock) by the running keeper
	KeeperPID  = "keeper.pid"   // the keeper's process id
	KeeperLog  = "keeper.log"   // the keeper's log
)

// flags are netinit's command-line flags.
type flags struct {
	cmdline, runDir, resolv, registry, caFile string
	timeout, probeRound                       time.Duration
	keeper                                    bool
}

func parseFlags(name string, args []string, stderr io.Writer) (*flags, *flag.FlagSet, error) {
	f := &flags{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.cmdline, "cmdline", "/proc/cmdline", "kernel command line file")
	fs.StringVar(&f.runDir, "run-dir", "/run/zosnet", "directory for the lease, the result and the keeper's pid, lock and log")
	fs.StringVar(&f.resolv, "resolv-conf", defaultResolvConf(), "where name servers are written (\"\" = nowhere)")
	fs.StringVar(&f.registry, "registry", "", "registry URL (overrides zosnet.registry=)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM CA file for the registry's TLS certificate (overrides zosnet.ca=)")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up after this long (0 = retry forever, as at boot)")
	fs.DurationVar(&f.probeRound, "probe-round", 10*time.Second, "length of one parallel DHCP probe round")
	fs.BoolVar(&f.keeper, "keeper", true, "hand the DHCP lease to a detached keeper process before exiting")
	return f, fs, fs.Parse(args)
}

// Main is netinit: `netinit [flags]` brings the node online and exits 0 once the
// registry is reachable, after starting the detached lease keeper (`netinit keep`),
// which holds the lease on zos for the life of the node. Exit codes: 0 online,
// 1 failure, 2 bad flags or kernel command line.
func Main(args []string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if len(args) > 0 && args[0] == "keep" {
		return keepMain(args[1:], stderr, log)
	}
	f, _, err := parseFlags("netinit", args, stderr)
	if err != nil {
		return 2
	}
	cfg, err := f.config()
	if err != nil {
		fmt.Fprintln(stderr, "netinit:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	if err := f.online(ctx, cfg, stdout, log); err != nil {
		fmt.Fprintln(stderr, "netinit:", err)
		return 1
	}
	return 0
}

// config reads the kernel command line and applies the flag overrides.
func (f *flags) config() (cmdline.Config, error) {
	cfg, err := cmdline.ReadFile(f.cmdline)
	if err != nil {
		return cfg, err
	}
	if f.registry != "" {
		if cfg.Registry, err = cmdline.ParseRegistry(f.registry); err != nil {
			return cfg, fmt.Errorf("--registry %q: %w", f.registry, err)
		}
	}
	if f.caFile != "" {
		cfg.CAFile = f.caFile
	}
	if cfg.Registry == nil {
		return cfg, errors.New("no registry: set zosnet.registry=URL on the kernel command line or --registry")
	}
	return cfg, nil
}

func (f *flags) online(ctx context.Context, cfg cmdline.Config, stdout io.Writer, log *slog.Logger) error {
	if err := os.MkdirAll(f.runDir, 0o755); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	start := time.Now()
	res, err := Run(ctx, Options{Cmdline: cfg, ResolvConf: f.resolv, Log: log, ProbeRound: f.probeRound})
	if err != nil {
		return err
	}
	if res.Lease != nil {
		if err := writeJSON(filepath.Join(f.runDir, LeaseFile), res.Lease); err != nil {
			return err
		}
	}
	if err := writeJSON(filepath.Join(f.runDir, ResultFile), res); err != nil {
		return err
	}
	if f.keeper && (res.Lease != nil || fileExists(filepath.Join(f.runDir, LeaseFile))) {
		if err := f.ensureKeeper(log); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "netinit: online in %v: %s on %s, %s via %s, reused=%v\n",
		time.Since(start).Round(time.Millisecond), res.NIC, Bridge, res.Config.Addr, res.Config.Gateway, res.Reused)
	return nil
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// defaultResolvConf is /etc/resolv.conf on a node, but $ZOSNET_STATE_DIR/resolv.conf
// when that is set (lab nodes share the host's /etc and must never write it).
func defaultResolvConf() string {
	if d := os.Getenv("ZOSNET_STATE_DIR"); d != "" {
		return filepath.Join(d, "resolv.conf")
	}
	return "/etc/resolv.conf"
}
