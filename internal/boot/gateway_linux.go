package boot

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// gatewayWait bounds one gateway check (ARP resolution takes ~3 s to fail in the kernel).
const gatewayWait = 3 * time.Second

// gatewayAnswers is netinit's connectivity check, which needs no registry: the default
// gateway of zos answers ARP. One UDP datagram to the gateway's discard port makes the
// kernel resolve it; the check passes once the neighbour entry has a link-layer address
// (REACHABLE, STALE, DELAY, PROBE or PERMANENT) and fails when the kernel marks it
// FAILED or after gatewayWait. A router that answers ARP is the node's way out: the
// lease (or zosnet.static=) named it, so this is the seed's "address with a gateway"
// condition, checked on the wire.
func (o *Options) gatewayAnswers(ctx context.Context, h *netlink.Handle, gw netip.Addr) error {
	if !gw.IsValid() {
		return fmt.Errorf("%s has no default gateway", Bridge)
	}
	br, err := h.LinkByName(Bridge)
	if err != nil {
		return fmt.Errorf("find %s: %w", Bridge, err)
	}
	if ok, _ := neighbourResolved(h, br.Attrs().Index, gw); ok {
		return nil
	}
	if err := o.poke(gw); err != nil {
		return fmt.Errorf("default gateway %s: send: %w", gw, err)
	}
	deadline := time.Now().Add(gatewayWait)
	for {
		ok, failed := neighbourResolved(h, br.Attrs().Index, gw)
		switch {
		case ok:
			return nil
		case failed:
			return fmt.Errorf("default gateway %s does not answer ARP on %s: check the cable and the router", gw, Bridge)
		case time.Now().After(deadline):
			return fmt.Errorf("default gateway %s did not answer ARP on %s within %s: check the cable and the router", gw, Bridge, gatewayWait)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// poke sends one datagram to the gateway's discard port (9) from the node's namespace,
// which makes the kernel resolve the gateway's link-layer address.
func (o *Options) poke(gw netip.Addr) error {
	send := func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte{0})
		return err
	}
	if o.NS == nil {
		return send()
	}
	return o.NS.Do(send)
}

// neighbourResolved reports whether gw has a link-layer address on link index, and
// whether the kernel gave up resolving it.
func neighbourResolved(h *netlink.Handle, index int, gw netip.Addr) (ok, failed bool) {
	ns, err := h.NeighList(index, unix.AF_INET)
	if err != nil {
		return false, false
	}
	for _, n := range ns {
		a, _ := netip.AddrFromSlice(n.IP.To4())
		if a != gw {
			continue
		}
		const valid = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT
		if n.State&valid != 0 && len(n.HardwareAddr) > 0 {
			return true, false
		}
		return false, n.State&netlink.NUD_FAILED != 0
	}
	return false, false
}
