package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"

	"github.com/zosnet/zosnet/internal/netns"
)

// Retransmit is the first retransmission interval. dnsmasq delays offers (its address
// probe) and drops packets under load, so waiting the RFC's 4 s loses seconds per boot.
const Retransmit = time.Second

// maxRetransmit caps the retransmission interval.
const maxRetransmit = 4 * time.Second

// ErrNak is returned (wrapped) when a server refused a request with a DHCPNAK.
var ErrNak = errors.New("dhcp: server sent NAK")

// Client talks DHCPv4 on one interface through a raw packet socket, so it works on an
// interface without any address and assigns nothing itself. It is safe for concurrent
// use by one caller at a time per transaction; Close releases the socket.
type Client struct {
	iface string
	nc    *nclient4.Client
	conn  net.PacketConn // the raw socket nc uses (Release writes to it directly)
	log   *slog.Logger
}

// Open opens a client on iface in namespace ns (nil: the caller's namespace). The socket
// stays bound to that namespace whatever thread uses it later.
func Open(ns *netns.NS, iface string, log *slog.Logger) (*Client, error) {
	var conn net.PacketConn
	var hw net.HardwareAddr
	open := func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		hw = ifc.HardwareAddr
		conn, err = nclient4.NewRawUDPConn(iface, nclient4.ClientPort)
		return err
	}
	var err error
	if ns == nil {
		err = open()
	} else {
		err = ns.Do(open)
	}
	if err != nil {
		return nil, fmt.Errorf("dhcp client on %s: open raw socket: %w", iface, err)
	}
	if len(hw) != 6 {
		conn.Close()
		return nil, fmt.Errorf("dhcp client on %s: no Ethernet address", iface)
	}
	nc, err := nclient4.NewWithConn(conn, hw, nclient4.WithTimeout(time.Hour), nclient4.WithRetry(1))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dhcp client on %s: %w", iface, err)
	}
	return &Client{iface: iface, nc: nc, conn: conn, log: log}, nil
}

// Close closes the socket.
func (c *Client) Close() error { return c.nc.Close() }

// HWAddr is the client hardware address the client sends.
func (c *Client) HWAddr() net.HardwareAddr { return c.nc.InterfaceAddr() }

// Discover runs DISCOVER/OFFER/REQUEST/ACK until it gets a lease or ctx ends,
// retransmitting after Retransmit, doubling up to 4 s. Retransmissions reuse the
// transaction id (RFC 2131 4.1), so a late OFFER (dnsmasq's 3 s address probe) to an
// earlier DISCOVER is still taken. A NAK restarts discovery with a new transaction.
func (c *Client) Discover(ctx context.Context) (*Lease, error) {
	var last error
	disc, err := c.newDiscover()
	if err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dhcp discover on %s: %w (last: %v)", c.iface, err, last)
		}
		l, err := c.dora(ctx, retransmitAfter(try), disc)
		if err == nil {
			return l, nil
		}
		last = err
		if errors.Is(err, ErrNak) {
			if disc, err = c.newDiscover(); err != nil {
				return nil, err
			}
		}
	}
}

func (c *Client) newDiscover() (*dhcpv4.DHCPv4, error) {
	d, err := dhcpv4.NewDiscovery(c.nc.InterfaceAddr(), dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)))
	if err != nil {
		return nil, fmt.Errorf("dhcp discover on %s: %w", c.iface, err)
	}
	return d, nil
}

func retransmitAfter(try int) time.Duration {
	return min(Retransmit<<(try/3), maxRetransmit)
}

func (c *Client) dora(ctx context.Context, wait time.Duration, disc *dhcpv4.DHCPv4) (*Lease, error) {
	offer, err := c.sendAndRead(ctx, wait, disc, nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		return nil, fmt.Errorf("no offer: %w", err)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer)
	if err != nil {
		return nil, err
	}
	match := nclient4.IsAll(nclient4.IsCorrectServer(offer.ServerIdentifier()),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak))
	for range 3 {
		ack, err := c.sendAndRead(ctx, Retransmit, req, match)
		if errors.Is(err, nclient4.ErrNoResponse) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return c.leaseFrom(ack)
	}
	return nil, fmt.Errorf("no ACK from %v", offer.ServerIdentifier())
}

func (c *Client) leaseFrom(ack *dhcpv4.DHCPv4) (*Lease, error) {
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("%w from %v: %s", ErrNak, ack.ServerIdentifier(), ack.Message())
	}
	return FromACK(ack, time.Now())
}

// Renew asks to extend l: from l's server (rebind false, RENEWING) or from any server
// (rebind true, REBINDING). Requests are broadcast on the link, so they work before and
// after the address is configured. It waits up to wait for an answer.
func (c *Client) Renew(ctx context.Context, l *Lease, rebind bool, wait time.Duration) (*Lease, error) {
	xid, err := dhcpv4.GenerateTransactionID()
	if err != nil {
		return nil, err
	}
	req, err := dhcpv4.NewRenewFromAck(l.ack, dhcpv4.WithTransactionID(xid),
		dhcpv4.WithHwAddr(c.nc.InterfaceAddr()),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)))
	if err != nil {
		return nil, err
	}
	match := nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)
	if !rebind {
		match = nclient4.IsAll(nclient4.IsCorrectServer(l.Server.AsSlice()), match)
	}
	ack, err := c.sendAndRead(ctx, wait, req, match)
	if err != nil {
		return nil, err
	}
	nl, err := c.leaseFrom(ack)
	if err == nil && nl.Addr.Addr() != l.Addr.Addr() {
		return nil, fmt.Errorf("dhcp renew on %s: server %s acked %s instead of %s", c.iface, nl.Server, nl.Addr, l.Addr)
	}
	return nl, err
}

// Release tells l's server the lease is no longer used (best effort, no answer). The
// DHCPRELEASE is broadcast, not unicast to the server as nclient4.Release does: the raw
// socket sends from 0.0.0.0 (the NIC has no address while netinit probes), and the
// server's kernel drops a unicast from 0.0.0.0 as a martian before its DHCP server sees
// it, so the lease stayed taken until it expired. The server identifier in the message
// tells the servers on the segment whose lease it is.
func (c *Client) Release(l *Lease) error {
	req, err := dhcpv4.NewReleaseFromACK(l.ack, dhcpv4.WithHwAddr(c.nc.InterfaceAddr()))
	if err != nil {
		return fmt.Errorf("dhcp release on %s: %w", c.iface, err)
	}
	if _, err := c.conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: nclient4.ServerPort}); err != nil {
		return fmt.Errorf("dhcp release on %s: %w", c.iface, err)
	}
	return nil
}

func (c *Client) sendAndRead(ctx context.Context, wait time.Duration, m *dhcpv4.DHCPv4, match nclient4.Matcher) (*dhcpv4.DHCPv4, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	resp, err := c.nc.SendAndRead(ctx, c.nc.RemoteAddr(), m, match)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return nil, nclient4.ErrNoResponse
	}
	return resp, err
}
