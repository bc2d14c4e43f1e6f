package dhcp

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"

	"github.com/zosnet/zosnet/internal/dhcp/dhcptest"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// shortServer is a DHCP server (insomniacslk server4) on s0 handing out 10.5.0.77/24
// for 6 s (T1 3 s, T2 5.25 s), which dnsmasq (2 min minimum) cannot do. While mute is
// set it answers nothing. renewals counts the requests with ciaddr set.
type shortServer struct {
	mute      atomic.Bool
	renewals  atomic.Int32
	discovers atomic.Int32
	lease     atomic.Uint32 // lease time in s (default 6)
	other     atomic.Bool   // answer as another server (identifier 10.5.0.2)
}

func startShortServer(t *testing.T, ns *netns.NS) *shortServer {
	s := &shortServer{}
	var srv *server4.Server
	err := ns.Do(func() (err error) {
		srv, err = server4.NewServer("s0", &net.UDPAddr{Port: 67}, s.handle)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *shortServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	if s.mute.Load() {
		return
	}
	typ := dhcpv4.MessageTypeOffer
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		s.discovers.Add(1)
	case dhcpv4.MessageTypeRequest:
		typ = dhcpv4.MessageTypeAck
		if !m.ClientIPAddr.IsUnspecified() {
			s.renewals.Add(1)
		}
	default:
		return
	}
	srvIP, gw := net.IPv4(10, 5, 0, 1), net.IPv4(10, 5, 0, 1)
	if s.other.Load() {
		srvIP = net.IPv4(10, 5, 0, 2)
	}
	secs := s.lease.Load()
	if secs == 0 {
		secs = 6
	}
	resp, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(typ), dhcpv4.WithYourIP(net.IPv4(10, 5, 0, 77)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithRouter(gw), dhcpv4.WithServerIP(srvIP),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP)), dhcpv4.WithLeaseTime(secs))
	if err != nil {
		return
	}
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: 68}
	if !m.ClientIPAddr.IsUnspecified() {
		dst.IP = m.ClientIPAddr
	}
	conn.WriteTo(resp.ToBytes(), dst)
}

// TestKeeperRenewRebindExpire: the keeper renews at T1 (same address, lifetime
// extended); with the server silent it rebinds at T2 and, at expiry, removes the address
// and the route; when the server answers again it gets the lease back.
func TestKeeperRenewRebindExpire(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	srv, cli := pair(t)
	s := startShortServer(t, srv)
	leases := make(chan *Lease, 16)
	k := &Keeper{NS: cli, Iface: "c0", Log: testLog(t), OnLease: func(l *Lease) { leases <- l }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	want := netip.MustParsePrefix("10.5.0.77/24")
	first := nextLease(t, leases, 10*time.Second)
	renewed := nextLease(t, leases, 10*time.Second)
	if first.Addr != want || renewed.Addr != want || !renewed.Acquired.After(first.Acquired) || s.renewals.Load() == 0 {
		t.Fatalf("first %v, renewed %v (renewals %d): want a renewal of %v", first, renewed, s.renewals.Load(), want)
	}

	s.mute.Store(true)
	if !dhcptest.Eventually(15*time.Second, func() bool { return len(v4Addrs(t, cli, "c0")) == 0 }) {
		t.Fatalf("lease not removed after expiry: %v", v4Addrs(t, cli, "c0"))
	}
	if defaultGW(t, cli).IsValid() {
		t.Fatal("default route left after expiry")
	}
	if left := time.Until(renewedLast(first, renewed, leases).Expiry()); left > 0 {
		t.Fatalf("address gone %v before the lease expired", left)
	}
	discovers := s.discovers.Load()
	s.mute.Store(false)
	back := nextLease(t, leases, 15*time.Second)
	if back.Addr != want || !slicesHas(v4Addrs(t, cli, "c0"), want) || s.discovers.Load() == discovers {
		t.Fatalf("after the server came back: %v, addresses %v, discovers %d->%d; want a new discovery",
			back, v4Addrs(t, cli, "c0"), discovers, s.discovers.Load())
	}
}

// renewedLast drains the leases applied so far and returns the newest.
func renewedLast(ls ...any) *Lease {
	var last *Lease
	for _, x := range ls {
		switch v := x.(type) {
		case *Lease:
			last = v
		case chan *Lease:
			for len(v) > 0 {
				last = <-v
			}
		}
	}
	return last
}

// TestKeeperRebinds: when the granting server is gone and another one answers (here:
// the same box with another server identifier, whose answers to RENEWING requests do
// not count), the keeper rebinds at T2 and keeps its address without interruption.
func TestKeeperRebinds(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	srv, cli := pair(t)
	s := startShortServer(t, srv)
	s.lease.Store(16) // T1 8 s, T2 14 s
	leases := make(chan *Lease, 16)
	k := &Keeper{NS: cli, Iface: "c0", Log: testLog(t), OnLease: func(l *Lease) { leases <- l }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })

	first := nextLease(t, leases, 10*time.Second)
	s.other.Store(true)
	next := nextLease(t, leases, 15*time.Second)
	if next.Server != netip.MustParseAddr("10.5.0.2") || next.Addr != first.Addr {
		t.Fatalf("after the server change: %v, want %v from 10.5.0.2", next, first.Addr)
	}
	if at := next.Acquired.Sub(first.Acquired); at < first.T2 || at >= first.Duration {
		t.Fatalf("new lease %v after the first, want between T2 (%v) and expiry (%v)", at, first.T2, first.Duration)
	}
	if s.discovers.Load() != 1 {
		t.Fatalf("%d discoveries: the keeper rediscovered instead of rebinding", s.discovers.Load())
	}
}
