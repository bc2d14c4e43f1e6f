package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestLoadNode: settings from a kernel command line file, the key made at first boot
// and kept, the node's agent (registration, facts from netlink) and a watcher.
func TestLoadNode(t *testing.T) {
	reg := newRegServer(t)
	reg.start()
	ctx := context.Background()
	farmer := &gridapi.Client{Base: reg.url(), Key: key(t)}
	if _, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "f"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(cmd, []byte("quiet farmer_id=1 zosnet.registry="+reg.url()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := NodeOptions{Cmdline: cmd, StateDir: filepath.Join(dir, "state"), Name: "farm1", Version: "t"}
	n, err := LoadNode(o)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "state", KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node key: %v %v", fi, err)
	}
	n2, err := LoadNode(o)
	if err != nil || n2.Key.ID() != n.Key.ID() || n2.FarmID != 1 {
		t.Fatalf("second load: %+v %v", n2, err)
	}
	// provisiond's composition: the agent registers (this process's own host links,
	// read-only, reported to the in-process registry on loopback), then a watcher gets
	// the node's desired state
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a, err := n.NewAgent(wctx)
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(wctx)
	select {
	case <-a.Registered():
	case <-time.After(5 * time.Second):
		t.Fatal("the agent did not register")
	}
	eventually(t, 5*time.Second, "facts from netlink", func() bool {
		nd, err := farmer.Node(ctx, "farm1")
		return err == nil && nd.Facts.Version == "t" && nd.Facts.NICs != nil
	})
	got := make(chan gridapi.Desired, 1)
	w := &Watcher{Client: n.Client, NodeID: a.NodeID(), Apply: func(_ context.Context, d gridapi.Desired) error {
		select {
		case got <- d:
		default:
		}
		return nil
	}}
	go w.Run(wctx)
	select {
	case d := <-got:
		if d.NodeID != a.NodeID() {
			t.Fatalf("desired for node %d, want %d", d.NodeID, a.NodeID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no desired state")
	}
	if err := os.WriteFile(cmd, []byte("zosnet.registry="+reg.url()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNode(o); err == nil {
		t.Fatal("a command line without farmer_id= must fail")
	}
}
