package boot

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/dhcp/dhcptest"
	"github.com/zosnet/zosnet/internal/testkit"
)

// lockedBuf is a bytes.Buffer safe for a logger and a reader at once.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestOnlineWithoutRegistry: netinit finishes on connectivity (lease with a gateway that
// answers), not on the registry: nothing listens at the registry's address.
func TestOnlineWithoutRegistry(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 1)
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f0", Range: "10.0.0.100,10.0.0.150"})
	reg, _ := url.Parse("https://10.0.0.1:8443") // nobody listens there
	res, err := run(t, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg}}, 40*time.Second)
	if err != nil {
		t.Fatalf("netinit without a registry: %v", err)
	}
	if res.NIC != "eth0" || !res.Lease.HasGateway() {
		t.Fatalf("result %+v", res)
	}
}

// TestSilentGateway: a gateway that does not answer ARP is no connectivity: netinit keeps
// trying and says why, and finishes once the gateway appears.
func TestSilentGateway(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 1)
	dhcptest.AddAddr(t, f.farm, "f0", "10.9.0.1/24")
	reg, _ := url.Parse("http://10.9.0.1:8080")
	st, err := cmdline.ParseStatic("10.9.0.5/24,10.9.0.254")
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuf
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{NS: f.node, Cmdline: cmdline.Config{Registry: reg, Static: st},
			MaxBackoff: 2 * time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		done <- err
	}()
	// it says why it is not online yet, and stays
	err = pollUntil(ctx, func() bool { return strings.Contains(logs.String(), "default gateway 10.9.0.254") })
	if err != nil {
		t.Fatalf("no line saying why: %v; log:\n%s", err, logs.String())
	}
	select {
	case err := <-done:
		t.Fatalf("netinit finished with a silent gateway: %v", err)
	default:
	}
	dhcptest.AddAddr(t, f.farm, "f0", "10.9.0.254/24") // the router comes up
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the gateway appeared: %v; log:\n%s", err, logs.String())
		}
	case <-ctx.Done():
		t.Fatalf("still not online after the gateway appeared; log:\n%s", logs.String())
	}
}

func pollUntil(ctx context.Context, ok func() bool) error {
	for !ok() {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
