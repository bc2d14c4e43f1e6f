package networkd_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/public"
	"github.com/zosnet/zosnet/internal/testkit"
)

// udpBusy reports whether UDP port is bound by someone in ns.
func udpBusy(t *testing.T, ns *netns.NS, port int) bool {
	t.Helper()
	busy := false
	ns.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		if err != nil {
			busy = true
			return nil
		}
		return c.Close()
	})
	return busy
}

// waitSocketIn polls until the NR's port is bound in want and free in other (if set).
func waitSocketIn(t *testing.T, want, other *netns.NS, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !udpBusy(t, want, port) || (other != nil && udpBusy(t, other, port)) {
		if time.Now().After(deadline) {
			t.Fatalf("port %d not bound in %s only", port, want.Path())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPublicConfigSurvivesRestart: with uplinks managed (a bare zos bridge stands in
// for netinit's), a public config set through the API moves the NR's WireGuard socket
// into `public`; after a daemon restart it is re-created there straight away (the
// config is persisted); unset moves it back to the host and removes `public`.
func TestPublicConfigSurvivesRestart(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	n := newNode(t)
	h := handle(t, n.host)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "zos"}}); err != nil {
		t.Fatal(err)
	}
	n.resync = time.Hour
	n.start(t)
	ctx := context.Background()
	spec := nodeapi.NRSpec{NetworkID: "pub1", IPRange: netip.MustParsePrefix("10.5.0.0/16"),
		Subnet: netip.MustParsePrefix("10.5.1.0/24"), ListenPort: 4007}
	if _, err := n.cl.PutNR(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitSocketIn(t, n.host, nil, 4007)
	cfg := nodeapi.PublicConfig{IPv4: netip.MustParsePrefix("203.0.113.10/24"), GW4: netip.MustParseAddr("203.0.113.1")}
	if err := n.cl.SetPublicConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	pub, err := netns.OpenNamed(n.netnsDir(), public.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	waitSocketIn(t, pub, n.host, 4007)
	st, err := n.cl.NodeStatus(ctx)
	if err != nil || !st.Managed || st.SocketNamespace != "public" || st.Hidden || st.Endpoints[0].Addr.String() != "203.0.113.10" {
		t.Fatalf("status after set: %+v (%v)", st, err)
	}

	if nr, err := n.cl.GetNR(ctx, "pub1"); err != nil || len(nr.Status.Endpoints) == 0 || nr.Status.Endpoints[0] != "203.0.113.10:4007" {
		t.Fatalf("NR endpoints after set: %v (%v)", nr.Status.Endpoints, err)
	}
	n.stop(t)
	n.start(t)
	waitSocketIn(t, pub, n.host, 4007)
	var pc nodeapi.PublicConfigState
	if pc, err = n.cl.PublicConfig(ctx); err != nil || pc.Config == nil || pc.Config.IPv4 != cfg.IPv4 {
		t.Fatalf("public config after restart: %+v (%v)", pc, err)
	}
	if err := n.cl.SetPublicConfig(ctx, nodeapi.PublicConfig{IPv4: netip.MustParsePrefix("10.0.0.5/24"), GW4: netip.MustParseAddr("10.0.0.1")}); !localapi.IsInvalid(err) {
		t.Errorf("private public config: error %v, want invalid", err)
	}
	if err := n.cl.UnsetPublicConfig(ctx); err != nil {
		t.Fatal(err)
	}
	waitSocketIn(t, n.host, pub, 4007)
	if _, err := netns.OpenNamed(n.netnsDir(), public.NS); err == nil {
		t.Error("public namespace still there after unset")
	}
	n.stop(t)
	for _, name := range []string{"ndmz", public.NS} {
		netns.Delete(n.netnsDir(), name)
	}
}
