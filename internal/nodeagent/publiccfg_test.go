package nodeagent

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zosnet/zosnet/internal/endpoints"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// TestValidatorsAgree: the registry accepts exactly the public configs networkd accepts.
func TestValidatorsAgree(t *testing.T) {
	for _, p := range []gridapi.PublicConfig{
		{IPv4: "203.0.113.10/24", GW4: "203.0.113.1"},
		{IPv4: "203.0.113.10/24"},
		{IPv4: "10.0.0.5/24", GW4: "10.0.0.1"},
		{IPv4: "203.0.113.0/24", GW4: "203.0.113.1"},
		{IPv4: "203.0.113.10/32", GW4: "203.0.113.1"},
		{IPv4: "203.0.113.10/24", GW4: "198.51.100.1"},
		{IPv6: "2001:db8:100::10/64", GW6: "fe80::1"},
		{IPv6: "2001:db8:100::10/64", GW6: "2001:db8:100::10"},
		{IPv6: "2001:db8:100::10/40", GW6: "2001:db8:100::1"},
		{IPv6: "fd00::10/64", GW6: "fd00::1"},
		{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", Domain: "Bad Name"},
		{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", Domain: "node.example.org"},
		{GW4: "203.0.113.1"},
		{},
	} {
		_, errPub := PublicConfigOf(&p)
		errReg := p.Validate()
		if (errPub == nil) != (errReg == nil) {
			t.Errorf("%+v: networkd says %v, registry says %v", p, errPub, errReg)
		}
	}
}

// fakeUplink is networkd's public-config side (the other Backend methods, which
// ApplyPublicConfig does not call, come from the nil embedded Backend).
type fakeUplink struct {
	localapi.Backend
	mu   sync.Mutex
	cfg  *nodeapi.PublicConfig
	sets int
}

func (f *fakeUplink) NodeStatus(context.Context) (nodeapi.NodeStatus, error) {
	return nodeapi.NodeStatus{}, nil
}
func (f *fakeUplink) PublicConfig(context.Context) (*nodeapi.PublicConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg, nil
}
func (f *fakeUplink) SetPublicConfig(_ context.Context, c *nodeapi.PublicConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg, f.sets = c, f.sets+1
	return nil
}

// TestApplyPublicConfig drives networkd's local API (its real server, a fake backend):
// set, unchanged (no call), change, unset.
func TestApplyPublicConfig(t *testing.T) {
	fake := &fakeUplink{}
	srv := &localapi.Server{B: fake, AllowUID: os.Getuid()}
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	c := localapi.NewClient(sock)
	pc := &gridapi.PublicConfig{IPv4: "203.0.113.10/24", GW4: "203.0.113.1", NIC: "eth1"}
	for i, step := range []struct {
		p        *gridapi.PublicConfig
		wantSets int
		wantIPv4 string
	}{
		{pc, 1, "203.0.113.10/24"},
		{pc, 1, "203.0.113.10/24"}, // unchanged: not sent again
		{&gridapi.PublicConfig{IPv4: "203.0.113.11/24", GW4: "203.0.113.1"}, 2, "203.0.113.11/24"},
		{nil, 3, ""},
		{nil, 3, ""},
	} {
		if err := ApplyPublicConfig(ctx, c, step.p); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		cfg, _ := fake.PublicConfig(ctx)
		got := ""
		if cfg != nil {
			got = cfg.IPv4.String()
		}
		if fake.sets != step.wantSets || got != step.wantIPv4 {
			t.Fatalf("step %d: %d calls, ipv4 %q; want %d, %q", i, fake.sets, got, step.wantSets, step.wantIPv4)
		}
	}
	if err := ApplyPublicConfig(ctx, c, &gridapi.PublicConfig{IPv4: "10.0.0.1/24", GW4: "10.0.0.2"}); err == nil {
		t.Fatal("a private address must be refused before networkd is called")
	}
}

func TestEndpointsOf(t *testing.T) {
	st := nodeapi.UplinkStatus{Hidden: false, Endpoints: []endpoints.Endpoint{
		{Addr: netip.MustParseAddr("2001:db8:100::10"), Family: "ipv6", Where: endpoints.PublicConfig, Reason: "farmer's public config"},
		{Addr: netip.MustParseAddr("2001:db8:100::5a"), Family: "ipv6", Where: endpoints.PublicSegment},
		{Addr: netip.MustParseAddr("203.0.113.10"), Family: "ipv4", Where: endpoints.Management},
	}}
	eps, hidden := EndpointsOf(st)
	f := gridapi.NodeFacts{Endpoints: eps, Hidden: hidden}
	want := []string{ReasonPublicConfig, ReasonPublicSegment, ReasonPublicIPv4}
	if err := f.Validate(); err != nil || hidden || len(eps) != 3 || eps[2].Family != 4 ||
		eps[0].Reason != want[0] || eps[1].Reason != want[1] || eps[2].Reason != want[2] {
		t.Fatalf("%+v hidden=%v: %v", eps, hidden, err)
	}
	if eps, hidden := EndpointsOf(nodeapi.UplinkStatus{Hidden: true}); !hidden || eps == nil || len(eps) != 0 {
		t.Fatalf("hidden node: %+v %v", eps, hidden)
	}
}
