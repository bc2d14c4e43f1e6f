package nodeagent

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// internalLink reports links zosnet makes per network resource or workload (b-, v-, w-,
// u-, c-, t- and the ndmz-/pub- transit veths): the farmer configures none of them, so
// they are not reported as NICs. It is the Skip of the agent NewAgent builds.
func internalLink(name string) bool {
	for _, p := range []string{"b-", "v-", "w-", "u-", "c-", "t-", "ndmz-", "pub-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// NetlinkFacts reads a node's facts from the kernel with netlink: every link except
// loopback (name, kind, MAC, up), its global and site addresses with prefixes, and the
// main table's routes through it; endpoint candidates and the hidden flag follow from
// the addresses (classify).
type NetlinkFacts struct {
	Handle  *netlink.Handle   // nil: the calling process's namespace
	Skip    func(string) bool // links to leave out (nil: none besides lo)
	WGPorts func() []int      // WireGuard listen ports in use (nil: none)
	// Endpoints, when set, decides the endpoint candidates and the hidden flag (networkd:
	// its uplink status, which knows the socket namespace); nil classifies the NICs'
	// addresses (classify).
	Endpoints func() (eps []gridapi.Endpoint, hidden bool)
	Version   string
	// RelayWeight is reported as is (zosnet.relay_weight=; 0: the default).
	RelayWeight int
}

// Facts implements FactsSource.
func (n *NetlinkFacts) Facts(_ context.Context) (gridapi.NodeFacts, error) {
	h := n.Handle
	if h == nil {
		h = &netlink.Handle{}
	}
	links, err := h.LinkList()
	if err != nil {
		return gridapi.NodeFacts{}, fmt.Errorf("list links: %w", err)
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return gridapi.NodeFacts{}, fmt.Errorf("list routes: %w", err)
	}
	f := gridapi.NodeFacts{NICs: []gridapi.NIC{}, WGPorts: []int{}, Version: n.Version, RelayWeight: n.RelayWeight}
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || (n.Skip != nil && n.Skip(a.Name)) {
			continue
		}
		nic, err := nicFacts(h, l, routes)
		if err != nil {
			return gridapi.NodeFacts{}, err
		}
		f.NICs = append(f.NICs, nic)
	}
	slices.SortFunc(f.NICs, func(a, b gridapi.NIC) int { return strings.Compare(a.Name, b.Name) })
	f.NICs = f.NICs[:min(len(f.NICs), gridapi.MaxNICs)] // the registry's limits, so reports never fail
	if n.WGPorts != nil {
		f.WGPorts = append(f.WGPorts, n.WGPorts()...)
		slices.Sort(f.WGPorts)
	}
	if n.Endpoints != nil {
		// nil means the source cannot say now (networkd not up yet): classify instead.
		if eps, hidden := n.Endpoints(); eps != nil {
			f.Endpoints, f.Hidden = append([]gridapi.Endpoint{}, eps...), hidden
			f.Endpoints = f.Endpoints[:min(len(f.Endpoints), gridapi.MaxEndpoints)]
			return f, nil
		}
	}
	classify(&f)
	return f, nil
}

func nicFacts(h *netlink.Handle, l netlink.Link, routes []netlink.Route) (gridapi.NIC, error) {
	a := l.Attrs()
	nic := gridapi.NIC{Name: a.Name, Kind: l.Type(), Up: a.Flags&net.FlagUp != 0, Addrs: []string{}, Routes: []gridapi.Route{}}
	if len(a.HardwareAddr) == 6 {
		nic.MAC = a.HardwareAddr.String()
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nic, fmt.Errorf("list addresses of %s: %w", a.Name, err)
	}
	for _, ad := range addrs {
		if ad.Scope == unix.RT_SCOPE_LINK || ad.Scope == unix.RT_SCOPE_HOST {
			continue
		}
		nic.Addrs = append(nic.Addrs, ad.IPNet.String())
	}
	slices.Sort(nic.Addrs)
	nic.Addrs = nic.Addrs[:min(len(nic.Addrs), gridapi.MaxAddrsPerNIC)]
	for _, r := range routes {
		if r.LinkIndex != a.Index {
			continue
		}
		nic.Routes = append(nic.Routes, routeFacts(r))
	}
	slices.SortFunc(nic.Routes, func(x, y gridapi.Route) int { return strings.Compare(x.Dst+x.Gw, y.Dst+y.Gw) })
	nic.Routes = nic.Routes[:min(len(nic.Routes), gridapi.MaxRoutes)]
	return nic, nil
}

func routeFacts(r netlink.Route) gridapi.Route {
	out := gridapi.Route{}
	switch {
	case r.Dst != nil:
		out.Dst = r.Dst.String()
	case r.Family == unix.AF_INET6:
		out.Dst = "::/0"
	default:
		out.Dst = "0.0.0.0/0"
	}
	if r.Gw != nil {
		out.Gw = r.Gw.String()
	}
	if r.Src != nil {
		out.Src = r.Src.String()
	}
	return out
}

// WatchChanges subscribes to link and address changes in the namespace ns (a netns
// file descriptor; -1 for the calling process's) and signals each on the returned
// channel (coalesced: buffered 1) until ctx ends.
func WatchChanges(ctx context.Context, ns int) (<-chan struct{}, error) {
	nsh := vnetns.NsHandle(ns)
	if ns < 0 {
		nsh = vnetns.None()
	}
	out := make(chan struct{}, 1)
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(links, ctx.Done(), netlink.LinkSubscribeOptions{Namespace: &nsh}); err != nil {
		return nil, fmt.Errorf("subscribe to link changes: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, ctx.Done(), netlink.AddrSubscribeOptions{Namespace: &nsh}); err != nil {
		return nil, fmt.Errorf("subscribe to address changes: %w", err)
	}
	go func() {
		for links != nil || addrs != nil {
			select {
			case _, ok := <-links:
				if !ok {
					links = nil
					continue
				}
			case _, ok := <-addrs:
				if !ok {
					addrs = nil
					continue
				}
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out, nil
}
