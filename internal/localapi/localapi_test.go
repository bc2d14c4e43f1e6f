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
	"syscall"
	"testing"

	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/workload"
)

// fake is an in-memory Backend.
type fake struct{ nrs map[string]resource.Spec }

func (f *fake) Status() Status { return Status{NRs: len(f.nrs)} }
func (f *fake) ListNRs() []NR  { return nil }
func (f *fake) GetNR(id string) (NR, error) {
	s, ok := f.nrs[id]
	if !ok {
		return NR{}, fmt.Errorf("nr %s: %w", id, ErrNotFound)
	}
	return NR{Spec: s, Status: NRStatus{State: StateOK}}, nil
}
func (f *fake) PutNR(ctx context.Context, s resource.Spec) (NR, error) {
	if err := s.Validate(); err != nil {
		return NR{}, err
	}
	if s.ListenPort == 1 {
		return NR{}, fmt.Errorf("%w: listen_port: taken", ErrConflict)
	}
	f.nrs[s.NetworkID] = s
	return NR{Spec: s}, nil
}
func (f *fake) DeleteNR(ctx context.Context, id string) error { delete(f.nrs, id); return nil }
func (f *fake) ListWorkloads() []Workload                     { return nil }
func (f *fake) AddWorkload(ctx context.Context, s workload.Spec) (Workload, error) {
	return Workload{Spec: s}, s.Validate()
}
func (f *fake) RemoveWorkload(ctx context.Context, name string) error { return nil }

// TestMain doubles as an unprivileged client: LOCALAPI_TEST_PUT=<socket> tries a PUT.
func TestMain(m *testing.M) {
	if sock := os.Getenv("LOCALAPI_TEST_PUT"); sock != "" {
		_, err := NewClient(sock).PutNR(context.Background(), spec("net9"))
		fmt.Print(errors.Is(err, ErrForbidden), " ", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func spec(id string) resource.Spec {
	return resource.Spec{NetworkID: id, IPRange: netip.MustParsePrefix("10.1.0.0/16"), Subnet: netip.MustParsePrefix("10.1.1.0/24")}
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
	f := &fake{nrs: map[string]resource.Spec{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{B: f}).Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })
	return sock, f
}

func TestRoundTripAndErrors(t *testing.T) {
	testkit.RequireRoot(t) // peer credentials / wg-quick need root; never skipped in CI
	sock, _ := serve(t)
	c := NewClient(sock)
	ctx := context.Background()
	if _, err := c.PutNR(ctx, spec("net1")); err != nil {
		t.Fatal(err)
	}
	nr, err := c.GetNR(ctx, "net1")
	if err != nil || nr.Spec.Subnet.String() != "10.1.1.0/24" || nr.Status.State != StateOK {
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
		{func() error { _, e := c.GetNR(ctx, "nope"); return e }(), ErrNotFound, "nope"},
		{func() error { _, e := c.PutNR(ctx, bad); return e }(), ErrInvalid, "subnet"},
		{func() error { _, e := c.PutNR(ctx, taken); return e }(), ErrConflict, "listen_port"},
		{func() error { _, e := c.AddWorkload(ctx, workload.Spec{Name: "BAD", NetworkID: "net1"}); return e }(), ErrInvalid, "name"},
	} {
		if !errors.Is(tt.err, tt.want) || !strings.Contains(tt.err.Error(), tt.text) {
			t.Errorf("got %v, want %v mentioning %q", tt.err, tt.want, tt.text)
		}
	}
	if err := c.DeleteNR(ctx, "net1"); err != nil {
		t.Fatal(err)
	}
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
