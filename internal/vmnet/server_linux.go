package vmnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// RAInterval is how often every VM gets an unsolicited (unicast) RA.
const RAInterval = 60 * time.Second

// Server answers DHCPv4 and router solicitations for one NR's VMs, and sends them RAs.
// Its sockets are opened inside the NR's namespace, bound to the bridge leg; its
// goroutines run outside any namespace switch. Set and Close are safe for concurrent
// use.
type Server struct {
	log  *slog.Logger
	mac  net.HardwareAddr // the leg's MAC (RA source link-layer address)
	dhcp *server4.Server
	ra   *ndp.Conn

	mu     sync.Mutex
	cfg    Config
	leases []Lease

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// Start opens the DHCPv4 (UDP 67) and ICMPv6 sockets in ns on interface ifname and
// serves cfg and leases until Close. The interface needs its IPv6 link-local address.
func Start(ns *netns.NS, ifname string, cfg Config, leases []Lease, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log, cfg: cfg, leases: leases, kick: make(chan struct{}, 1), done: make(chan struct{})}
	var conn *net.UDPConn
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("interface %s: %w", ifname, err)
		}
		s.mac = ifi.HardwareAddr
		if conn, err = server4.NewIPv4UDPConn(ifname, nil); err != nil {
			return fmt.Errorf("dhcp socket on %s: %w", ifname, err)
		}
		// the NR's leg has the name of the host's bridge (see link.ListenNDP)
		if s.ra, err = link.ListenNDP(ifi, ndp.LinkLocal); err != nil {
			conn.Close()
			return fmt.Errorf("icmpv6 socket on %s: %w", ifname, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vmnet in %s: %w", ns.Path(), err)
	}
	_ = s.ra.JoinGroup(netip.MustParseAddr("ff02::2")) // solicitations; the kernel router joined it already
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := s.ra.SetICMPFilter(&f); err != nil {
		conn.Close()
		s.ra.Close()
		return nil, fmt.Errorf("vmnet: icmpv6 filter: %w", err)
	}
	if s.dhcp, err = server4.NewServer(ifname, nil, s.handleDHCP, server4.WithConn(conn)); err != nil {
		conn.Close()
		s.ra.Close()
		return nil, fmt.Errorf("vmnet: dhcp server: %w", err)
	}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); _ = s.dhcp.Serve() }()
	go func() { defer s.wg.Done(); s.readRS() }()
	go func() { defer s.wg.Done(); s.advertise() }()
	return s, nil
}

// Set replaces the config and the leases; new VMs get an RA at once.
func (s *Server) Set(cfg Config, leases []Lease) {
	s.mu.Lock()
	s.cfg, s.leases = cfg, leases
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Server) state() (Config, []Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg, s.leases
}

// Close stops serving and closes the sockets.
func (s *Server) Close() error {
	close(s.done)
	err := errors.Join(s.dhcp.Close(), s.ra.Close())
	s.wg.Wait()
	return err
}

func (s *Server) handleDHCP(conn net.PacketConn, peer net.Addr, req *dhcpv4.DHCPv4) {
	cfg, leases := s.state()
	resp, err := Reply(cfg, leases, req)
	if errors.Is(err, ErrNotOurs) {
		return
	}
	if err != nil {
		s.log.Warn("vmnet: dhcp reply", "mac", req.ClientHWAddr, "err", err)
		return
	}
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
		s.log.Warn("vmnet: dhcp send", "mac", req.ClientHWAddr, "err", err)
		return
	}
	s.log.Debug("vmnet: dhcp", "mac", req.ClientHWAddr, "type", resp.MessageType(), "ip", resp.YourIPAddr)
}

// readRS answers router solicitations from the VMs (by the source link-layer
// address the solicitation carries, else its source's EUI-64), unicast.
func (s *Server) readRS() {
	for {
		m, _, src, err := s.ra.ReadFrom()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			s.log.Warn("vmnet: read solicitation", "err", err)
			time.Sleep(100 * time.Millisecond) // a transient error; do not spin
			continue
		}
		rs, ok := m.(*ndp.RouterSolicitation)
		if !ok {
			continue
		}
		cfg, leases := s.state()
		if !fromVM(rs, src, leases) {
			continue
		}
		if err := s.ra.WriteTo(RA(cfg, s.mac), nil, src); err != nil {
			s.log.Warn("vmnet: answer solicitation", "to", src, "err", err)
		}
	}
}

func fromVM(rs *ndp.RouterSolicitation, src netip.Addr, leases []Lease) bool {
	for _, l := range leases {
		for _, o := range rs.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Addr.String() == l.MAC.String() {
				return true
			}
		}
		if src == LinkLocal(l.MAC) {
			return true
		}
	}
	return false
}

// advertise sends every VM an RA unicast to its link-local address every RAInterval
// and whenever Set is called.
func (s *Server) advertise() {
	t := time.NewTicker(RAInterval)
	defer t.Stop()
	for {
		cfg, leases := s.state()
		for _, l := range leases {
			if err := s.ra.WriteTo(RA(cfg, s.mac), nil, LinkLocal(l.MAC)); err != nil {
				s.log.Debug("vmnet: advertise", "mac", l.MAC, "err", err)
			}
		}
		select {
		case <-s.done:
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}
