package networkd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/networkd"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// A second networkd on the same socket refuses to start while the first one answers
// (it used to delete the live socket and take over): Serve returns localapi.ErrInUse
// at once, and the first networkd keeps its socket, its NR and its devices. After the
// first one is killed, a new one starts on the stale socket.
func TestSecondDaemonRefused(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	n := newNode(t)
	n.startProc(t)
	nr, err := n.cl.PutNR(bg, spec("net1", "10.1.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := networkd.New(n.config())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := second.Serve(ctx); !errors.Is(err, localapi.ErrInUse) {
		t.Fatalf("second networkd: Serve returned %v, want ErrInUse", err)
	}
	if _, err := os.Stat(n.socket()); err != nil {
		t.Fatalf("the live socket is gone: %v", err)
	}
	got, err := n.cl.GetNR(bg, "net1")
	if err != nil || got.Status.State != nodeapi.StateOK || got.Status.PublicKey != nr.Status.PublicKey || len(got.Status.WGKind) == 0 {
		t.Fatalf("first networkd after the refused start: %+v %v", got.Status, err)
	}
	ns, err := netns.Open(filepath.Join(n.netnsDir(), "n-net1"))
	if err != nil {
		t.Fatalf("the NR's namespace is gone: %v", err)
	}
	ns.Close()
	n.kill(t) // the socket file stays behind, stale
	n.start(t)
	if got, err := n.cl.GetNR(bg, "net1"); err != nil || got.Status.PublicKey != nr.Status.PublicKey {
		t.Fatalf("networkd on the stale socket: %+v %v", got.Status, err)
	}
}
