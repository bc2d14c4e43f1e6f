package ndmz

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// resolverAddr puts nodeapi.WorkloadResolver4/32 on ndmz's lo (idempotent): the
// workloads' DNS forwarder listens there, reached from every NR through its uplink.
func resolverAddr(ns *netns.NS) error {
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("ndmz lo: %w", err)
	}
	p := netip.PrefixFrom(nodeapi.WorkloadResolver4, 32)
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := h.AddrReplace(lo, a); err != nil {
		return fmt.Errorf("resolver address %s on ndmz lo: %w", p, err)
	}
	return nil
}

// ListenResolver opens the workloads' DNS sockets (UDP and TCP port 53 on
// nodeapi.WorkloadResolver4) inside ndmz, which must exist (Ensure). They stay in
// ndmz whichever goroutine serves them; the caller closes them. It also returns
// ndmz's identity (see Identity), so a caller can tell when ndmz was made anew.
func (d *DMZ) ListenResolver() (net.PacketConn, net.Listener, string, error) {
	ns, err := netns.OpenNamed(d.NetnsDir, NS)
	if err != nil {
		return nil, nil, "", fmt.Errorf("ndmz: %w", err)
	}
	defer ns.Close()
	addr := netip.AddrPortFrom(nodeapi.WorkloadResolver4, 53).String()
	var pc net.PacketConn
	var l net.Listener
	err = ns.Do(func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		if l, err = net.Listen("tcp4", addr); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("workload resolver on %s in ndmz: %w", addr, err)
	}
	return pc, l, identity(ns), nil
}

// Identity returns ndmz's namespace identity (its inode), "" when it does not
// exist: it changes when ndmz is deleted and made again.
func (d *DMZ) Identity() string {
	ns, err := netns.OpenNamed(d.NetnsDir, NS)
	if err != nil {
		return ""
	}
	defer ns.Close()
	return identity(ns)
}

func identity(ns *netns.NS) string {
	ino, err := ns.Inode()
	if err != nil {
		return ""
	}
	return fmt.Sprint(ino)
}
