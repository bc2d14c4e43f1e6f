package networkd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

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

// A change whose caller has gone before networkd took it changes nothing: no state,
// no key, no kernel object.
func TestCancelledChangeChangesNothing(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	n := newNode(t)
	d, err := networkd.New(n.config())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.PutNR(ctx, spec("net1", "10.1.1.0/24")); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutNR with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := d.AddWorkload(ctx, nodeapi.WorkloadSpec{Name: "w", NetworkID: "net1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("AddWorkload with a cancelled context: %v", err)
	}
	if err := d.Reconcile(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reconcile with a cancelled context: %v", err)
	}
	if nrs, err := d.ListNRs(bg); err != nil || len(nrs) != 0 {
		t.Fatalf("NRs after cancelled changes: %v %v", nrs, err)
	}
	if _, err := os.Stat(filepath.Join(n.stateDir(), "keys", "nr-net1.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key was made for a cancelled PutNR: %v", err)
	}
	if names, _ := netns.List(n.netnsDir()); len(names) != 0 {
		t.Fatalf("namespaces after cancelled changes: %v", names)
	}
}

// Persisted state is outside input too: a state file whose workload has no NR or a
// broken MAC refuses the start with an error naming the object; a damaged learned
// endpoint is dropped (it used to reach the applier and panic there).
func TestStateFilesValidated(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	n := newNode(t)
	if err := os.MkdirAll(n.stateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ state, want string }{
		{`{"version":1,"nrs":{},"workloads":{"w":{"name":"w","network_id":"net9","kind":"netns","mac":"02:00:00:00:00:01","ipv4":"10.1.1.5/24","ipv6":"fd00::5/64","host_if":"c-0123456789"}}}`, "workload w: network resource"},
		{`{"version":1,"nrs":{"net1":{"network_id":"net1","ip_range":"10.1.0.0/16","subnet":"10.1.1.0/24","listen_port":4001,"peers":[]}},"workloads":{"w":{"name":"w","network_id":"net1","kind":"netns","mac":"nope","ipv4":"10.1.1.5/24","ipv6":"fd00::5/64","host_if":"c-0123456789"}}}`, "workload w: mac"},
		{`{"version":1,"nrs":{"net1":{"network_id":"net2","ip_range":"10.1.0.0/16","subnet":"10.1.1.0/24","listen_port":4001,"peers":[]}}}`, "nr net1: network_id"},
	} {
		if err := os.WriteFile(filepath.Join(n.stateDir(), "state.json"), []byte(tt.state), 0o600); err != nil {
			t.Fatal(err)
		}
		if d, err := networkd.New(n.config()); err == nil || !strings.Contains(err.Error(), tt.want) {
			if d != nil {
				d.Close()
			}
			t.Fatalf("state %s: New error %v, want one naming %q", tt.state, err, tt.want)
		}
	}
	k, _ := wgtypes.GeneratePrivateKey()
	peer := k.PublicKey().String()
	state := `{"version":1,"nrs":{"net1":{"network_id":"net1","ip_range":"10.1.0.0/16","subnet":"10.1.1.0/24","listen_port":4001,` +
		`"peers":[{"public_key":"` + peer + `","allowed_ips":["10.1.2.0/24"]}]}}}`
	hints := `{"net1":{"` + peer + `":"not-an-endpoint"}}`
	for name, body := range map[string]string{"state.json": state, "endpoints.json": hints} {
		if err := os.WriteFile(filepath.Join(n.stateDir(), name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n.start(t) // the first reconcile applies net1, whose hidden peer has the damaged hint
	if nr, err := n.cl.GetNR(bg, "net1"); err != nil || nr.Status.State != nodeapi.StateOK {
		t.Fatalf("NR with a damaged learned endpoint for its hidden peer: %+v %v", nr.Status, err)
	}
}
