package localapi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// fake is an in-memory Backend.
type fake struct {
	mu    sync.Mutex
	nrs   map[string]nodeapi.NRSpec
	cfg   *nodeapi.PublicConfig
	allow []nodeapi.EgressAllow
	reg   *nodeapi.RegistryStatus
}

func (f *fake) SetRegistryStatus(_ context.Context, st nodeapi.RegistryStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reg = &st
	return nil
}

func (f *fake) Status(context.Context) (nodeapi.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return nodeapi.Status{NRs: len(f.nrs)}, nil
}
func (f *fake) ListNRs(context.Context) ([]nodeapi.NR, error) { return nil, nil }
func (f *fake) GetNR(_ context.Context, id string) (nodeapi.NR, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.nrs[id]
	if !ok {
		return nodeapi.NR{}, fmt.Errorf("nr %s: %w", id, nodeapi.ErrNotFound)
	}
	return nodeapi.NR{Spec: s, Status: nodeapi.NRStatus{State: nodeapi.StateOK}}, nil
}
func (f *fake) PutNR(ctx context.Context, s nodeapi.NRSpec) (nodeapi.NR, error) {
	if err := s.Validate(); err != nil {
		return nodeapi.NR{}, err
	}
	if s.ListenPort == 1 {
		return nodeapi.NR{}, fmt.Errorf("%w: listen_port: taken", nodeapi.ErrConflict)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nrs[s.NetworkID] = s
	return nodeapi.NR{Spec: s}, nil
}
func (f *fake) DeleteNR(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.nrs, id)
	return nil
}
func (f *fake) ListWorkloads(context.Context) ([]nodeapi.Workload, error) { return nil, nil }
func (f *fake) AddWorkload(_ context.Context, s nodeapi.WorkloadSpec) (nodeapi.Workload, error) {
	return nodeapi.Workload{WorkloadSpec: s}, s.Validate()
}
func (f *fake) RemoveWorkload(context.Context, string) error { return nil }
func (f *fake) NodeStatus(context.Context) (nodeapi.NodeStatus, error) {
	return nodeapi.NodeStatus{Managed: true}, nil
}
func (f *fake) PublicConfig(context.Context) (*nodeapi.PublicConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg, nil
}
func (f *fake) EgressAllow(context.Context) ([]nodeapi.EgressAllow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]nodeapi.EgressAllow{}, f.allow...), nil
}

func (f *fake) SetEgressAllow(_ context.Context, list []nodeapi.EgressAllow) error {
	if err := nodeapi.ValidateEgressAllow(list); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allow = list
	return nil
}

func (f *fake) SetPublicConfig(_ context.Context, c *nodeapi.PublicConfig) error {
	if c != nil {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = c
	return nil
}

// TestMain doubles as an unprivileged client: LOCALAPI_TEST_PUT=<socket> tries a PUT.
func TestMain(m *testing.M) {
	if sock := os.Getenv("LOCALAPI_TEST_PUT"); sock != "" {
		_, err := NewClient(sock).PutNR(context.Background(), spec("net9"))
		fmt.Print(errors.Is(err, nodeapi.ErrForbidden), " ", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func spec(id string) nodeapi.NRSpec {
	return nodeapi.NRSpec{NetworkID: id, IPRange: netip.MustParsePrefix("10.1.0.0/16"), Subnet: netip.MustParsePrefix("10.1.1.0/24")}
}

// openDir is a temp dir that other users can enter (t.TempDir's are 0700).
func openDir(t *testing.T) string {
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	return dir
}

func serve(t *testing.T) (string, *fake) {
	dir := openDir(t)
	sock := filepath.Join(dir, "api.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{nrs: map[string]nodeapi.NRSpec{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{B: f}).Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	return sock, f
}

func TestRoundTripAndErrors(t *testing.T) {
	testkit.RequireRoot(t) // peer credentials / wg-quick need root; never skipped in CI
	sock, f := serve(t)
	c := NewClient(sock)
	ctx := context.Background()
	if _, err := c.PutNR(ctx, spec("net1")); err != nil {
		t.Fatal(err)
	}
	nr, err := c.GetNR(ctx, "net1")
	if err != nil || nr.Spec.Subnet.String() != "10.1.1.0/24" || nr.Status.State != nodeapi.StateOK {
		t.Fatalf("get: %+v %v", nr, err)
	}
	bad := spec("net2")
	bad.Subnet = netip.MustParsePrefix("10.9.0.0/24")
	taken := spec("net3")
	taken.ListenPort = 1
	for _, tt := range []struct {
		err  error
		want error
		text string
	}{
		{func() error { _, e := c.GetNR(ctx, "nope"); return e }(), nodeapi.ErrNotFound, "nope"},
		{func() error { _, e := c.PutNR(ctx, bad); return e }(), nodeapi.ErrInvalid, "subnet"},
		{func() error { _, e := c.PutNR(ctx, taken); return e }(), nodeapi.ErrConflict, "listen_port"},
		{func() error {
			_, e := c.AddWorkload(ctx, nodeapi.WorkloadSpec{Name: "BAD", NetworkID: "net1"})
			return e
		}(), nodeapi.ErrInvalid, "name"},
		{c.SetPublicConfig(ctx, nodeapi.PublicConfig{IPv4: netip.MustParsePrefix("10.0.0.5/24"), GW4: netip.MustParseAddr("10.0.0.1")}), nodeapi.ErrInvalid, "ipv4"},
	} {
		if !errors.Is(tt.err, tt.want) || !strings.Contains(tt.err.Error(), tt.text) {
			t.Errorf("got %v, want %v mentioning %q", tt.err, tt.want, tt.text)
		}
	}
	if err := c.DeleteNR(ctx, "net1"); err != nil {
		t.Fatal(err)
	}
	checkUplinkRoutes(t, c)
	checkRegistryRoute(t, c, f)
	if _, err := NewClient(filepath.Join(t.TempDir(), "none.sock")).Status(ctx); err == nil || !strings.Contains(err.Error(), "is networkd running") {
		t.Fatalf("no daemon: %v", err)
	}
}

// A non-root caller may read but not change: checked with the socket's peer credentials.
func TestNonRootForbidden(t *testing.T) {
	testkit.RequireRoot(t) // peer credentials / wg-quick need root; never skipped in CI
	sock, f := serve(t)
	exe, _ := os.Executable()
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := openDir(t) // the build dir is 0700: give nobody a copy it can run
	exe = filepath.Join(dir, "localapi.test")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCALAPI_TEST_PUT="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "true ") || len(f.nrs) != 0 {
		t.Fatalf("non-root PUT: %s (nrs %v)", out, f.nrs)
	}
}

// checkUplinkRoutes: /v1/node and /v1/public-config set, read and unset.
func checkUplinkRoutes(t *testing.T, c *Client) {
	t.Helper()
	ctx := context.Background()
	if st, err := c.NodeStatus(ctx); err != nil || !st.Managed {
		t.Fatalf("node status: %+v %v", st, err)
	}
	cfg := nodeapi.PublicConfig{IPv4: netip.MustParsePrefix("203.0.113.10/24"), GW4: netip.MustParseAddr("203.0.113.1")}
	if err := c.SetPublicConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if st, err := c.PublicConfig(ctx); err != nil || st.Config == nil || *st.Config != cfg {
		t.Fatalf("public config after set: %+v %v", st, err)
	}
	if err := c.UnsetPublicConfig(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := c.PublicConfig(ctx); err != nil || st.Config != nil {
		t.Fatalf("public config after unset: %+v %v", st, err)
	}
	allow := []nodeapi.EgressAllow{{Prefix: netip.MustParsePrefix("10.201.0.50/32"), Proto: "tcp", Port: 873}}
	if err := c.SetEgressAllow(ctx, allow); err != nil {
		t.Fatal(err)
	}
	if got, err := c.EgressAllow(ctx); err != nil || len(got) != 1 || got[0] != allow[0] {
		t.Fatalf("egress allow after set: %+v %v", got, err)
	}
	bad := []nodeapi.EgressAllow{{Prefix: netip.MustParsePrefix("10.201.0.50/24")}}
	if err := c.SetEgressAllow(ctx, bad); !errors.Is(err, nodeapi.ErrInvalid) || !strings.Contains(err.Error(), "host bits") {
		t.Fatalf("egress allow with host bits: %v, want invalid naming host bits", err)
	}
	if err := c.SetEgressAllow(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.EgressAllow(ctx); err != nil || len(got) != 0 {
		t.Fatalf("egress allow after clearing: %+v %v", got, err)
	}
}

// checkRegistryRoute: PUT /v1/registry validates provisiond's report and keeps it.
func checkRegistryRoute(t *testing.T, c *Client, f *fake) {
	t.Helper()
	ctx := context.Background()
	since := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, bad := range []struct {
		st    nodeapi.RegistryStatus
		field string
	}{
		{nodeapi.RegistryStatus{URL: "https://198.51.100.10:8443"}, "since"},
		{nodeapi.RegistryStatus{URL: "ftp://x", Since: since}, "url"},
		{nodeapi.RegistryStatus{URL: "https://r", Since: since, NodeID: -1}, "node_id"},
		{nodeapi.RegistryStatus{URL: "https://r", Since: since, LastError: strings.Repeat("x", 2000)}, "last_error"},
	} {
		if err := c.SetRegistryStatus(ctx, bad.st); !errors.Is(err, nodeapi.ErrInvalid) || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("registry status %+v: %v, want invalid naming %s", bad.st, err, bad.field)
		}
	}
	good := nodeapi.RegistryStatus{URL: "https://198.51.100.10:8443", NodeID: 3, Since: since, LastError: "dial tcp: connection refused"}
	if err := c.SetRegistryStatus(ctx, good); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reg == nil || f.reg.NodeID != 3 || !f.reg.Since.Equal(since) {
		t.Fatalf("kept %+v", f.reg)
	}
}
