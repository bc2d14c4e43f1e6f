package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/workload"
)

// fakeND is an in-memory networkd backend for the node-local commands.
type fakeND struct{ wl []localapi.Workload }

func (f *fakeND) Status() localapi.Status { return localapi.Status{NRs: 1} }
func (f *fakeND) ListNRs() []localapi.NR {
	nr, _ := f.GetNR("net1")
	return []localapi.NR{nr}
}
func (f *fakeND) GetNR(id string) (localapi.NR, error) {
	if id != "net1" {
		return localapi.NR{}, localapi.ErrNotFound
	}
	hs := time.Now().Add(-3 * time.Second)
	return localapi.NR{Spec: resource.Spec{NetworkID: "net1", Subnet: netip.MustParsePrefix("10.1.1.0/24")},
		Status: localapi.NRStatus{PublicKey: "PUB", ListenPort: 3000, State: "ok", WGKind: "userspace",
			Peers: []localapi.PeerStatus{{PublicKey: "PEER", Endpoint: "192.0.2.1:3001", LatestHandshake: &hs, RxBytes: 10}}}}, nil
}
func (f *fakeND) PutNR(ctx context.Context, s resource.Spec) (localapi.NR, error) {
	return localapi.NR{Spec: s, Status: localapi.NRStatus{State: "ok"}}, s.Validate()
}
func (f *fakeND) DeleteNR(ctx context.Context, id string) error { return nil }
func (f *fakeND) ListWorkloads() []localapi.Workload            { return f.wl }
func (f *fakeND) AddWorkload(ctx context.Context, s workload.Spec) (localapi.Workload, error) {
	if err := s.Validate(); err != nil {
		return localapi.Workload{}, err
	}
	w := localapi.Workload{Spec: s, IPv4: netip.MustParsePrefix("10.1.1.7/24"), Netns: "wl-" + s.Name}
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
	var nr localapi.NR
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
	if out, code := run("node", "workload", "add", "net1", "Bad"); code != 1 || !strings.Contains(out, "name") {
		t.Fatalf("workload add Bad: %d %s", code, out)
	}
	if out, code := run("node", "workload", "list", "--json"); code != 0 || !strings.Contains(out, `"wl-web"`) {
		t.Fatalf("workload list: %d %s", code, out)
	}
	if _, code := run("node", "nr", "show"); code != 2 {
		t.Fatalf("nr show without id: exit %d, want 2", code)
	}
	spec := filepath.Join(t.TempDir(), "nr.json")
	os.WriteFile(spec, []byte(`{"network_id":"net2","ip_range":"10.2.0.0/16","subnet":"10.2.1.0/24","peers":[]}`), 0o600)
	if out, code := run("node", "nr", "apply", spec); code != 0 || !strings.Contains(out, "net2") {
		t.Fatalf("nr apply: %d %s", code, out)
	}
}
