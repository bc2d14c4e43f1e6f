package networkd_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/zosnet/zosnet/internal/networkd"
	"github.com/zosnet/zosnet/internal/wg"
)

// TestMain doubles as a networkd process for the crash tests: with
// ZOSNET_TEST_NETWORKD=<dir> the test binary runs a daemon on that node directory in
// the namespace it was started in (through nsenter), until killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("ZOSNET_TEST_NETWORKD"); dir != "" {
		os.Exit(runDaemon(dir))
	}
	if spec := os.Getenv("ZOSNET_TEST_BAREWG"); spec != "" {
		os.Exit(runBareWG(spec))
	}
	os.Exit(m.Run())
}

func runDaemon(dir string) int {
	n := &node{dir: dir}
	cfg := n.config()
	cfg.Host = nil // the namespace nsenter put us in
	if d := os.Getenv("ZOSNET_TEST_NETNS_DIR"); d != "" {
		cfg.NetnsDir = d // a lab node's own /run/netns
	}
	if os.Getenv("ZOSNET_TEST_RESYNC") != "" {
		cfg.Resync = 2 * time.Second
	}
	if v := os.Getenv("ZOSNET_TEST_RESYNC_EVERY"); v != "" {
		cfg.Resync, _ = time.ParseDuration(v) // 0 (unparsable): the default
	}
	if os.Getenv("ZOSNET_TEST_NO_RESYNC") != "" {
		cfg.Resync = time.Hour // only the endpoint watcher may persist learned endpoints
	}
	cfg.WGKind = wg.Userspace
	// upstream wireguard-go's buffers (Go heap) instead of the per-device slab
	device.HeapBuffers = os.Getenv("ZOSNET_TEST_WG_HEAP_BUFFERS") != ""
	// upstream wireguard-go's GRO tables (preallocated per TUN) instead of lazy ones
	tun.EagerGROTables = os.Getenv("ZOSNET_TEST_WG_EAGER_GRO") != ""
	// upstream wireguard-go's buffer slicing (reads each buffer's first page)
	device.TouchBuffers = os.Getenv("ZOSNET_TEST_WG_TOUCH_BUFFERS") != ""
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	d, err := networkd.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "networkd:", err)
		return 1
	}
	if err := d.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "networkd:", err)
		return 1
	}
	return 0
}

// startProc runs networkd as a separate process in the node's host namespace.
func (n *node) startProc(t testing.TB) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+n.host.Path(), exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "ZOSNET_TEST_NETWORKD="+n.dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.proc = cmd
	n.waitUp(t)
}

// kill sends SIGKILL to the networkd process and reaps it.
func (n *node) kill(t testing.TB) {
	t.Helper()
	if n.proc == nil {
		return
	}
	n.proc.Process.Signal(syscall.SIGKILL)
	n.proc.Wait()
	n.proc = nil
}

// term stops the networkd process gracefully.
func (n *node) term(t testing.TB) {
	t.Helper()
	if n.proc == nil {
		return
	}
	n.proc.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- n.proc.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("networkd exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("networkd did not stop on SIGTERM")
		n.proc.Process.Kill()
		<-errc
	}
	n.proc = nil
}
