package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// fakeND is an in-memory networkd backend for the node-local commands (the uplink
// methods, which they do not call, come from the nil embedded Backend).
type fakeND struct {
	localapi.Backend
	wl []nodeapi.Workload
}

func (f *fakeND) Status(context.Context) (nodeapi.Status, error) { return nodeapi.Status{NRs: 1}, nil }
func (f *fakeND) ListNRs(ctx context.Context) ([]nodeapi.NR, error) {
	nr, err := f.GetNR(ctx, "net1")
	return []nodeapi.NR{nr}, err
}
func (f *fakeND) GetNR(_ context.Context, id string) (nodeapi.NR, error) {
	if id != "net1" {
		return nodeapi.NR{}, nodeapi.ErrNotFound
	}
	hs := time.Now().Add(-3 * time.Second)
	return nodeapi.NR{Spec: nodeapi.NRSpec{NetworkID: "net1", Name: "production", Subnet: netip.MustParsePrefix("10.1.1.0/24")},
		Status: nodeapi.NRStatus{PublicKey: "PUB", ListenPort: 3000, State: "ok", WGKind: "userspace",
			Peers: []nodeapi.PeerStatus{{PublicKey: "PEER", Endpoint: "192.0.2.1:3001", LatestHandshake: &hs, RxBytes: 10}}}}, nil
}
func (f *fakeND) PutNR(ctx context.Context, s nodeapi.NRSpec) (nodeapi.NR, error) {
	return nodeapi.NR{Spec: s, Status: nodeapi.NRStatus{State: "ok"}}, s.Validate()
}
func (f *fakeND) DeleteNR(ctx context.Context, id string) error {
	if id != "net1" {
		return fmt.Errorf("network resource %s: %w on this node: nothing to remove", id, nodeapi.ErrNotFound)
	}
	return nil
}
func (f *fakeND) ListWorkloads(context.Context) ([]nodeapi.Workload, error) { return f.wl, nil }
func (f *fakeND) AddWorkload(ctx context.Context, s nodeapi.WorkloadSpec) (nodeapi.Workload, error) {
	if err := s.Validate(); err != nil {
		return nodeapi.Workload{}, err
	}
	if s.NetworkID != "net1" {
		return nodeapi.Workload{}, fmt.Errorf("network resource %q: %w", s.NetworkID, nodeapi.ErrNotFound)
	}
	w := nodeapi.Workload{WorkloadSpec: s, IPv4: netip.MustParsePrefix("10.1.1.7/24"), Netns: "wl-" + s.Name}
	f.wl = append(f.wl, w)
	return w, nil
}
func (f *fakeND) RemoveWorkload(ctx context.Context, name string) error { return nil }

func TestNodeLocalCommands(t *testing.T) {
	testkit.RequireRoot(t) // peer credentials / wg-quick need root; never skipped in CI
	sock := filepath.Join(t.TempDir(), "nd.sock")
	l, err := localapi.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&localapi.Server{B: &fakeND{}}).Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Main(append(args, "--socket", sock), &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := run("node", "nr", "list"); code != 0 || !strings.Contains(out, "net1") || !strings.Contains(out, "3000") {
		t.Fatalf("nr list: %d %s", code, out)
	}
	out, code := run("node", "nr", "show", "net1", "--json")
	var nr nodeapi.NR
	if code != 0 || json.Unmarshal([]byte(out), &nr) != nil || nr.Status.PublicKey != "PUB" {
		t.Fatalf("nr show --json: %d %s", code, out)
	}
	if out, code := run("node", "nr", "show", "nope"); code != 1 || !strings.Contains(out, "not found") {
		t.Fatalf("nr show nope: %d %s", code, out)
	}
	if out, code := run("node", "wg", "show"); code != 0 || !strings.Contains(out, "w-net1") || !strings.Contains(out, "latest handshake") {
		t.Fatalf("wg show: %d %s", code, out)
	}
	if out, code := run("node", "workload", "add", "net1", "web"); code != 0 || !strings.Contains(out, "10.1.1.7/24") {
		t.Fatalf("workload add: %d %s", code, out)
	}
	// the network's name works wherever its id does (issue 19)
	var wl nodeapi.Workload
	if out, code := run("node", "workload", "add", "production", "w1", "--json"); code != 0 || json.Unmarshal([]byte(out), &wl) != nil || wl.NetworkID != "net1" {
		t.Fatalf("workload add by network name: %d %s", code, out)
	}
	if out, code := run("node", "nr", "show", "production"); code != 0 || !strings.Contains(out, "net1 (production)") {
		t.Fatalf("nr show by name: %d %s", code, out)
	}
	if out, code := run("node", "wg", "show", "production"); code != 0 || !strings.Contains(out, "w-net1") {
		t.Fatalf("wg show by name: %d %s", code, out)
	}
	if out, code := run("node", "workload", "add", "net1", "Bad"); code != 1 || !strings.Contains(out, "name") {
		t.Fatalf("workload add Bad: %d %s", code, out)
	}
	if out, code := run("node", "workload", "list", "--json"); code != 0 || !strings.Contains(out, `"wl-web"`) {
		t.Fatalf("workload list: %d %s", code, out)
	}
	if _, code := run("node", "nr", "show"); code != 2 {
		t.Fatalf("nr show without id: exit %d, want 2", code)
	}
	if out, code := run("node", "nr", "rm", "nosuch"); code != 1 || !strings.Contains(out, "network resource nosuch was not there: nothing removed") || strings.Contains(out, "removed nosuch") {
		t.Fatalf("nr rm nosuch: %d %s", code, out)
	}
	if out, code := run("node", "nr", "rm", "net1"); code != 0 || !strings.Contains(out, "removed net1") {
		t.Fatalf("nr rm net1: %d %s", code, out)
	}
	spec := filepath.Join(t.TempDir(), "nr.json")
	os.WriteFile(spec, []byte(`{"network_id":"net2","ip_range":"10.2.0.0/16","subnet":"10.2.1.0/24","peers":[]}`), 0o600)
	if out, code := run("node", "nr", "apply", spec); code != 0 || !strings.Contains(out, "net2") {
		t.Fatalf("nr apply: %d %s", code, out)
	}
}
