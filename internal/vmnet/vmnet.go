// Package vmnet gives VM workloads (taps on an NR's bridge) their network without
// cloud-init: inside the NR's namespace, on its leg to the bridge, a DHCPv4 server
// answers only the MACs of the NR's tap workloads with their deterministic address,
// the NR gateway, a lease time, the MTU and the name servers, and router
// advertisements (unicast to each VM, and in answer to its solicitations) give it the
// NR's ULA /64 (and the global one where the node has it) for SLAAC. Nothing else on
// the bridge is answered. vmnet.go is pure (the replies as data); server_linux.go runs
// them in a namespace.
//
// A VM's IPv6 is the SLAAC address of its MAC (modified EUI-64) in the ULA /64
// (package workload plans it so), so the anti-spoofing rules and SLAAC agree.
package vmnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/mdlayher/ndp"
)

// Lease is what one VM gets: its MAC and its IPv4 address with the NR subnet's prefix.
type Lease struct {
	MAC  net.HardwareAddr
	IPv4 netip.Prefix
}

// Config is what every VM of one NR gets.
type Config struct {
	Gateway   netip.Addr     // the NR's gateway, also the DHCP server identifier
	MTU       int            // the bridge's MTU (DHCP option 26, RA MTU option)
	DNS       []netip.Addr   // name servers; nil: the gateway is not one, none is sent
	LeaseTime time.Duration  // default 1 h
	Prefixes  []netip.Prefix // /64s advertised for SLAAC: the ULA twin, the global one where the node has it
	// RouterLifetime is the RA's default-router lifetime (default 30 min).
	RouterLifetime time.Duration
}

func (c Config) leaseTime() time.Duration {
	if c.LeaseTime <= 0 {
		return time.Hour
	}
	return c.LeaseTime
}

// ErrNotOurs is returned for a request that is not answered: another MAC, or a
// message type the server does not answer.
var ErrNotOurs = errors.New("vmnet: not answered")

// Reply returns the answer to a DHCPv4 request from a VM of leases: an OFFER to a
// DISCOVER, an ACK to a REQUEST for its own address (or none named), a NAK to a REQUEST
// for another address. Requests from other MACs, and other messages, get ErrNotOurs.
func Reply(cfg Config, leases []Lease, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, ErrNotOurs
	}
	l, ok := leaseOf(leases, req.ClientHWAddr)
	if !ok {
		return nil, ErrNotOurs
	}
	var typ dhcpv4.MessageType
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		typ = dhcpv4.MessageTypeAck
		if asked := requested(req); asked != nil && !asked.Equal(l.IPv4.Addr().AsSlice()) {
			typ = dhcpv4.MessageTypeNak
		}
	default:
		return nil, ErrNotOurs
	}
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(typ), dhcpv4.WithServerIP(cfg.Gateway.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(cfg.Gateway.AsSlice())), dhcpv4.WithBroadcast(true)}
	if typ != dhcpv4.MessageTypeNak {
		mods = append(mods, leaseMods(cfg, l)...)
	}
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, fmt.Errorf("vmnet: build %s for %s: %w", typ, req.ClientHWAddr, err)
	}
	return resp, nil
}

func leaseMods(cfg Config, l Lease) []dhcpv4.Modifier {
	mods := []dhcpv4.Modifier{dhcpv4.WithYourIP(l.IPv4.Addr().AsSlice()),
		dhcpv4.WithNetmask(net.CIDRMask(l.IPv4.Bits(), 32)),
		dhcpv4.WithRouter(cfg.Gateway.AsSlice()),
		dhcpv4.WithLeaseTime(uint32(cfg.leaseTime() / time.Second))}
	if cfg.MTU > 0 {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(cfg.MTU >> 8), byte(cfg.MTU)}))
	}
	if len(cfg.DNS) > 0 {
		ips := make([]net.IP, 0, len(cfg.DNS))
		for _, a := range cfg.DNS {
			ips = append(ips, a.AsSlice())
		}
		mods = append(mods, dhcpv4.WithDNS(ips...))
	}
	return mods
}

func leaseOf(leases []Lease, mac net.HardwareAddr) (Lease, bool) {
	for _, l := range leases {
		if l.MAC.String() == mac.String() {
			return l, true
		}
	}
	return Lease{}, false
}

// requested is the address a REQUEST asks for: option 50, else ciaddr (renewing).
func requested(req *dhcpv4.DHCPv4) net.IP {
	if ip := req.RequestedIPAddress(); ip != nil && !ip.IsUnspecified() {
		return ip
	}
	if req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified() {
		return req.ClientIPAddr
	}
	return nil
}

// RA returns the router advertisement for the NR's VMs: the /64s for SLAAC (on-link,
// autonomous), the MTU, the router's link-layer address, and a default-router
// lifetime (IPv6 leaves through the NR like IPv4).
func RA(cfg Config, routerMAC net.HardwareAddr) *ndp.RouterAdvertisement {
	life := cfg.RouterLifetime
	if life <= 0 {
		life = 30 * time.Minute
	}
	ra := &ndp.RouterAdvertisement{CurrentHopLimit: 64, RouterLifetime: life,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: routerMAC}}}
	if cfg.MTU > 0 {
		ra.Options = append(ra.Options, ndp.NewMTU(uint32(cfg.MTU)))
	}
	for _, p := range cfg.Prefixes {
		ra.Options = append(ra.Options, &ndp.PrefixInformation{PrefixLength: uint8(p.Bits()), OnLink: true,
			AutonomousAddressConfiguration: true, ValidLifetime: 24 * time.Hour, PreferredLifetime: 4 * time.Hour,
			Prefix: p.Masked().Addr()})
	}
	return ra
}

// EUI64 returns the SLAAC address of mac in prefix (a /64): modified EUI-64, as the
// kernel makes it by default.
func EUI64(prefix netip.Prefix, mac net.HardwareAddr) netip.Addr {
	b := prefix.Masked().Addr().As16()
	b[8], b[9], b[10] = mac[0]^0x02, mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b)
}

// LinkLocal is the VM's default link-local address (fe80::/64 with its EUI-64), where
// the periodic RAs go unicast.
func LinkLocal(mac net.HardwareAddr) netip.Addr {
	return EUI64(netip.MustParsePrefix("fe80::/64"), mac)
}
