package link

import (
	"net"
	"net/netip"
)

// IPNet converts p (address and length kept as given, not masked) to the form netlink
// takes for addresses and routes.
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
