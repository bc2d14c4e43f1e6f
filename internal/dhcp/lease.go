// Package dhcp is zosnet's DHCPv4 client: a probe that asks for a lease on an
// unconfigured interface without assigning anything (raw packet sockets,
// insomniacslk/dhcp nclient4 on the wire), an applier that puts a lease on a link with
// netlink (address with the lease's lifetimes, default route, resolv.conf), and a Keeper
// that holds a lease for the life of the node: renew at T1, rebind at T2, rediscover on
// NAK, on expiry and after carrier loss.
//
// Leases are plain values; FromACK validates everything a server sent before it is used.
package dhcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Lease is a DHCPv4 lease, validated. It is a value: nothing in it refers to a socket.
type Lease struct {
	// Addr is the leased address with the subnet's prefix length.
	Addr netip.Prefix
	// Router is the first default gateway of the lease; invalid when the server sent no
	// router option (or only routers outside the subnet).
	Router netip.Addr
	// DNS are the name servers, possibly none.
	DNS []netip.Addr
	// Server is the server identifier (the server that granted the lease).
	Server netip.Addr
	// Duration, T1 and T2 are the lease time and the renew and rebind times, from Acquired.
	Duration, T1, T2 time.Duration
	// Acquired is when the ACK arrived.
	Acquired time.Time
	// ack is the raw ACK, kept to build renew requests.
	ack *dhcpv4.DHCPv4
}

// FromACK validates a server's ACK and makes a Lease acquired at now. T1 and T2
// default to 1/2 and 7/8 of the lease time (RFC 2131) when absent or inconsistent.
func FromACK(ack *dhcpv4.DHCPv4, now time.Time) (*Lease, error) {
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		return nil, errors.New("dhcp lease: not an ACK")
	}
	addr, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !usable(addr) {
		return nil, fmt.Errorf("dhcp lease: yiaddr %v: not a usable IPv4 address", ack.YourIPAddr)
	}
	bits, err := maskBits(ack.SubnetMask())
	if err != nil {
		return nil, fmt.Errorf("dhcp lease: subnet mask: %w", err)
	}
	l := &Lease{Addr: netip.PrefixFrom(addr, bits), Acquired: now, ack: ack}
	l.Server, _ = netip.AddrFromSlice(ack.ServerIdentifier().To4())
	if !l.Server.IsValid() {
		return nil, errors.New("dhcp lease: no server identifier")
	}
	if err := l.setTimes(ack); err != nil {
		return nil, err
	}
	l.Router = firstRouter(ack.Router(), l.Addr)
	for _, ip := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(ip.To4()); ok && usable(a) {
			l.DNS = append(l.DNS, a)
		}
	}
	return l, nil
}

func (l *Lease) setTimes(ack *dhcpv4.DHCPv4) error {
	l.Duration = ack.IPAddressLeaseTime(0)
	if l.Duration <= 0 {
		return errors.New("dhcp lease: no lease time")
	}
	if l.Duration > 0xfffffffe*time.Second { // infinite: keep renewing anyway
		l.Duration = 24 * time.Hour * 365
	}
	l.T1 = ack.IPAddressRenewalTime(l.Duration / 2)
	l.T2 = ack.IPAddressRebindingTime(l.Duration * 7 / 8)
	if l.T1 <= 0 || l.T1 >= l.Duration {
		l.T1 = l.Duration / 2
	}
	if l.T2 <= l.T1 || l.T2 >= l.Duration {
		l.T2 = l.Duration * 7 / 8
	}
	return nil
}

// HasGateway reports whether the lease carries a default gateway: only such a lease
// qualifies a NIC for the node's uplink.
func (l *Lease) HasGateway() bool { return l != nil && l.Router.IsValid() }

// Expiry is when the lease ends.
func (l *Lease) Expiry() time.Time { return l.Acquired.Add(l.Duration) }

// Remaining is how long the lease is still valid at now (0 once expired).
func (l *Lease) Remaining(now time.Time) time.Duration { return max(0, l.Expiry().Sub(now)) }

// ACK returns the server's ACK the lease was made from.
func (l *Lease) ACK() *dhcpv4.DHCPv4 { return l.ack }

// String is a one-line summary for logs.
func (l *Lease) String() string {
	gw := "none"
	if l.Router.IsValid() {
		gw = l.Router.String()
	}
	return fmt.Sprintf("%s gw %s from %s for %s", l.Addr, gw, l.Server, l.Duration)
}

type leaseJSON struct {
	ACK      []byte    `json:"ack"`
	Acquired time.Time `json:"acquired"`
}

// MarshalJSON stores the raw ACK and the time it arrived; UnmarshalJSON re-validates.
func (l *Lease) MarshalJSON() ([]byte, error) {
	return json.Marshal(leaseJSON{ACK: l.ack.ToBytes(), Acquired: l.Acquired})
}

// UnmarshalJSON parses what MarshalJSON wrote and validates it as FromACK does.
func (l *Lease) UnmarshalJSON(b []byte) error {
	var j leaseJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("dhcp lease: %w", err)
	}
	ack, err := dhcpv4.FromBytes(j.ACK)
	if err != nil {
		return fmt.Errorf("dhcp lease: ack: %w", err)
	}
	nl, err := FromACK(ack, j.Acquired)
	if err != nil {
		return err
	}
	*l = *nl
	return nil
}

func usable(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func maskBits(m net.IPMask) (int, error) {
	if m == nil {
		return 0, errors.New("missing")
	}
	ones, bits := m.Size()
	if bits != 32 || ones < 1 || ones > 32 {
		return 0, fmt.Errorf("%v is not a contiguous IPv4 mask", net.IP(m))
	}
	return ones, nil
}

// firstRouter returns the first router inside the lease's subnet (an off-link gateway
// cannot be reached without more routes, so it does not count).
func firstRouter(rs []net.IP, p netip.Prefix) netip.Addr {
	for _, ip := range rs {
		a, ok := netip.AddrFromSlice(ip.To4())
		if ok && usable(a) && p.Masked().Contains(a) && a != p.Addr() {
			return a
		}
	}
	return netip.Addr{}
}
