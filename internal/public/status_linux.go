package public

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/endpoints"
	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/ndmz"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Status reads the live addresses and reports uplinks, endpoints and hidden.
func (u *Uplinks) Status() nodeapi.UplinkStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := nodeapi.UplinkStatus{SocketNamespace: "host", PublicConfig: u.cfg, Uplinks: []nodeapi.UplinkInfo{}}
	h, err := link.Handle(u.Host)
	if err != nil {
		st.Hidden = true
		return st
	}
	defer h.Close()
	pubWhere := endpoints.Management
	if u.uplink.Mode == "nic" {
		pubWhere = endpoints.PublicSegment
	}
	zos := addrsOf(h, Zos, fixed(endpoints.Management))
	brpub := addrsOf(h, Bridge, fixed(pubWhere))
	st.Uplinks = append(st.Uplinks,
		nodeapi.UplinkInfo{Name: Zos, Role: "management (DHCP, NAT egress for IPv4)", Addresses: strs(zos)},
		nodeapi.UplinkInfo{Name: Bridge, Role: "public segment", Mode: u.uplink.Mode, NIC: u.uplink.NIC, Reason: u.uplink.Reason, Addresses: strs(brpub)},
		u.dmzInfo())
	sockAddrs := append(zos, brpub...)
	if u.sock != nil {
		st.SocketNamespace = NS
		sockAddrs = u.publicAddrs(pubWhere)
		st.Uplinks = append(st.Uplinks, nodeapi.UplinkInfo{Name: NS, Role: "public config (WireGuard sockets)", Addresses: strs(sockAddrs)})
	}
	r := endpoints.Compute(sockAddrs)
	st.Hidden, st.Endpoints, st.Refused = r.Hidden, r.Endpoints, r.Refused
	return st
}

// Egress reports what workloads may reach: the refused destinations and the allow
// list at the last apply, and the packets refused per NR (read live).
func (u *Uplinks) Egress() (nodeapi.EgressStatus, error) {
	d := u.DMZ()
	refused, err := d.Refused()
	if refused == nil {
		refused = map[string]uint64{}
	}
	return nodeapi.EgressStatus{Denied: d.Denied(), Allow: d.Allowed(), Refused: refused, Resolvers: []string{}}, err
}

func (u *Uplinks) dmzInfo() nodeapi.UplinkInfo {
	info := nodeapi.UplinkInfo{Name: ndmz.NS, Role: "egress: IPv4 NAT through zos, IPv6 SLAAC on br-pub", Addresses: []string{}}
	ns, err := netns.OpenNamed(u.NetnsDir, ndmz.NS)
	if err != nil {
		info.Reason = "missing"
		return info
	}
	defer ns.Close()
	h, err := link.Handle(ns)
	if err != nil {
		return info
	}
	defer h.Close()
	info.Addresses = strs(append(addrsOf(h, ndmz.InnerLink, fixed(endpoints.Management)), addrsOf(h, ndmz.PubLink, fixed(endpoints.Management))...))
	return info
}

// publicAddrs: static addresses of the config, SLAAC ones by where br-pub goes.
func (u *Uplinks) publicAddrs(slaac endpoints.Where) []endpoints.Addr {
	h, err := link.Handle(u.sock)
	if err != nil {
		return nil
	}
	defer h.Close()
	return addrsOf(h, Leg, func(p netip.Prefix, a netlink.Addr) endpoints.Where {
		if a.Flags&unix.IFA_F_PERMANENT != 0 {
			return endpoints.PublicConfig
		}
		return slaac
	})
}

func strs(as []endpoints.Addr) []string {
	out := []string{}
	for _, a := range as {
		if !a.Prefix.Addr().IsLinkLocalUnicast() {
			out = append(out, a.Prefix.String())
		}
	}
	return out
}
