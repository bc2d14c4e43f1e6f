package networkd_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/networkd"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/wg"
)

// node is a throwaway "host" namespace with its own state dir, netns dir and socket,
// where a networkd runs (in-process with start, or as a process with startProc).
type node struct {
	host   *netns.NS
	dir    string // state, netns dir and socket live under it
	cancel context.CancelFunc
	done   chan error
	cl     *localapi.Client
	proc   *exec.Cmd
	resync time.Duration // 0 = 200 ms
}

func (n *node) stateDir() string { return filepath.Join(n.dir, "state") }
func (n *node) netnsDir() string { return filepath.Join(n.dir, "netns") }
func (n *node) socket() string   { return filepath.Join(n.dir, "nd.sock") }

func newNode(t testing.TB) *node {
	t.Helper()
	n := &node{host: testkit.NewNS(t), dir: t.TempDir()}
	os.Chmod(n.dir, 0o755)
	n.cl = localapi.NewClient(n.socket())
	t.Cleanup(func() {
		n.stop(t)
		n.kill(t)
		// Tear down whatever is left: a daemon started on the same state removes it all.
		cleanupAll(t, n)
		unix.Unmount(n.netnsDir(), unix.MNT_DETACH)
	})
	return n
}

func (n *node) config() networkd.Config {
	resync := n.resync
	if resync == 0 {
		resync = 200 * time.Millisecond
	}
	var log *slog.Logger
	if os.Getenv("ZOSNET_TEST_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", filepath.Base(n.dir))
	}
	return networkd.Config{StateDir: n.stateDir(), Socket: n.socket(), NetnsDir: n.netnsDir(), Log: log,
		Resync: resync, Host: n.host, WGKind: wg.Userspace, PortMin: 4000, PortMax: 4099}
}

// start runs the daemon in-process and waits for its socket.
func (n *node) start(t testing.TB) {
	t.Helper()
	d, err := networkd.New(n.config())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- d.Serve(ctx) }()
	n.waitUp(t)
}

func (n *node) waitUp(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := n.cl.Status(context.Background()); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("networkd did not come up: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling the socket, bounded by the deadline
	}
}

// stop ends an in-process daemon gracefully (its userspace links go away).
func (n *node) stop(t testing.TB) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		t.Errorf("networkd: %v", err)
	}
	n.cancel = nil
}

// cleanupAll deletes every NR through a fresh daemon, then stops it.
func cleanupAll(t testing.TB, n *node) {
	d, err := networkd.New(n.config())
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer d.Close()
	nrs, err := d.ListNRs(context.Background())
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, nr := range nrs {
		if err := d.DeleteNR(context.Background(), nr.Spec.NetworkID); err != nil {
			t.Errorf("cleanup %s: %v", nr.Spec.NetworkID, err)
		}
	}
	if err := d.Reconcile(context.Background()); err != nil {
		t.Errorf("cleanup reconcile: %v", err)
	}
}

func handle(t testing.TB, ns *netns.NS) *netlink.Handle { t.Helper(); return testkit.Handle(t, ns) }

// wire joins two hosts with a veth underlay: 10.99.0.1 and .2.
func wire(t testing.TB, a, b *node, mtu int) { t.Helper(); wireB(t, a.host, b.host, mtu) }

func newClient(n *node) *localapi.Client { return localapi.NewClient(n.socket()) }

func unmountDir(n *node) { unix.Unmount(n.netnsDir(), unix.MNT_DETACH) }

// wireB joins two namespaces with a veth: 10.99.0.1 in x, 10.99.0.2 in y.
func wireB(t testing.TB, x, y *netns.NS, mtu int) { t.Helper(); testkit.Underlay(t, x, y, mtu) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func spec(id, subnet string, peers ...nodeapi.Peer) nodeapi.NRSpec {
	return nodeapi.NRSpec{NetworkID: id, IPRange: pfx("10.1.0.0/16"), Subnet: pfx(subnet), Peers: peers}
}

func ping(t testing.TB, nsPath string, dst netip.Addr) error {
	t.Helper()
	ns, err := netns.Open(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	return testkit.Ping(t, ns, dst)
}

// pollPing pings until a reply comes, opening nsPath anew each time (a restarted
// daemon may recreate the namespace there).
func pollPing(t testing.TB, nsPath string, dst netip.Addr, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := ping(t, nsPath, dst)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}
