package zinit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/guestagent"
)

// StateDir is where the node's state directory is mounted.
const StateDir = "/var/lib/zosnet"

// BinDir holds the node's programs in the image.
const BinDir = "/bin"

// Report is what the guest agent's "status" returns.
type Report struct {
	Node     string   `json:"node"`
	Uptime   float64  `json:"uptime_s"` // since the kernel started
	InitUp   float64  `json:"init_up_s"`
	State    string   `json:"state_dir"`
	Modules  int      `json:"modules"`
	Services []Status `json:"services"`
}

// Main is cmd/zosinit: /init (PID 1) of the image, or /sbin/modprobe. It returns an
// exit code only when it is not PID 1.
func Main() int {
	if filepath.Base(os.Args[0]) == "modprobe" {
		return Modprobe(os.Args[1:])
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "zosinit: this is the node image's /init and must run as PID 1 (or as modprobe)")
		return 2
	}
	defer func() { // PID 1 must never exit: the kernel would panic
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "zosinit: panic: %v\n", r)
		}
		for {
			time.Sleep(time.Hour)
		}
	}()
	runInit()
	return 0
}

type initLog struct {
	con  *Console
	file io.Writer
}

func (w *initLog) Write(p []byte) (int, error) {
	w.con.Write(append([]byte("[init] "), p...))
	if w.file != nil {
		w.file.Write(p)
	}
	return len(p), nil
}

func runInit() {
	t0 := time.Now()
	os.Setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin")
	mountErr := MountBasics()
	con := NewConsole(os.Stdout)
	il := &initLog{con: con}
	log := slog.New(slog.NewTextHandler(il, nil))
	if mountErr != nil {
		log.Error("mounts", "err", mountErr)
	}
	raw, _ := os.ReadFile("/proc/cmdline")
	cfg, err := ParseConfig(string(raw))
	if err != nil {
		log.Error("kernel command line: using defaults for the bad parameter", "err", err)
	}
	log.Info("zosinit starting", "cmdline", strings.TrimSpace(string(raw)), "kernel_uptime_s", uptime())
	reaper := NewReaper()
	go reaper.Run(make(chan struct{}))
	loader, err := LoadModules(log)
	if err != nil {
		log.Error("modules", "err", err)
	}
	if err := WriteSysctls(); err != nil {
		log.Warn("sysctls", "err", err)
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	where, err := MountState(cfg, StateDir, log)
	if err != nil {
		log.Error("state disk: falling back to RAM", "err", err)
		mountTmpfs(StateDir)
		where = "tmpfs (state disk failed)"
	}
	logDir := filepath.Join(StateDir, "log")
	os.MkdirAll(logDir, 0o755)
	if f, err := os.OpenFile(filepath.Join(logDir, "init.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		il.file = f
	}
	log.Info("state directory", "dir", StateDir, "on", where)
	if cfg.Name, err = ResolveName(cfg.Name, StateDir, "/sys/class/net"); err != nil {
		log.Warn("node name", "err", err)
	}
	unix.Sethostname([]byte(cfg.Name))
	log.Info("node name", "name", cfg.Name)
	if names, err := ImportFwCfg(FwCfgStateDir, StateDir); err != nil || len(names) > 0 {
		log.Info("state files from the hypervisor (fw_cfg)", "files", names, "err", err)
	}
	sup := &Supervisor{Services: Plan(cfg, BinDir, StateDir), LogDir: logDir, Console: con, Reaper: reaper, Log: log}
	mods := 0
	if loader != nil {
		mods = loader.Loaded()
	}
	report := func() any {
		return Report{Node: cfg.Name, Uptime: uptime(), InitUp: time.Since(t0).Seconds(), State: where, Modules: mods, Services: sup.Status()}
	}
	env := []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root", "ZOSNET_NODE=" + cfg.Name, "ZOSNET_STATE_DIR=" + StateDir}
	go serveAgent(cfg.Name, reaper, report, env, log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) // Ctrl-Alt-Del sends SIGINT: a clean power-off
	log.Info("starting services", "services", cfg.Services, "init_took", time.Since(t0).Round(time.Millisecond))
	sup.Run(ctx)
	log.Info("powering off")
	unix.Sync()
	unix.Unmount(StateDir, 0)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// serveAgent serves the guest agent on its virtio-serial port, if the machine has one.
func serveAgent(node string, r *Reaper, report func() any, env []string, log *slog.Logger) {
	port, err := guestagent.OpenPort()
	if err != nil {
		log.Info("no guest agent port (not a lab VM)")
		return
	}
	defer port.Close()
	s := &guestagent.Server{Port: port, Start: r.Start, Status: report, Env: env, Node: node, Log: log}
	log.Info("guest agent serving", "port", guestagent.PortName)
	for {
		err := s.Serve(context.Background())
		log.Warn("guest agent stopped; restarting", "err", err)
		time.Sleep(time.Second)
	}
}

// uptime is the time since the kernel started, in seconds.
func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}
