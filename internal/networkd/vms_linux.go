package networkd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/vmnet"
)

// vmDNS returns the name servers a VM of NR id gets by DHCP: the workloads' DNS
// forwarder in ndmz (issue 17), the same address container workloads use.
func vmDNS(id string) []netip.Addr { return []netip.Addr{nodeapi.WorkloadResolver4} }

// serveVMs runs a vmnet server (DHCPv4 for the VMs' MACs, RAs for SLAAC) in the
// namespace of every NR that has tap workloads, with their current leases, and stops
// the servers of NRs that have none. Idempotent; errors are joined per NR.
func (r *reconciler) serveVMs(nrs map[string]nodeapi.NRSpec, ws []nodeapi.Workload) error {
	leases := map[string][]vmnet.Lease{}
	for _, w := range ws {
		if w.Kind != nodeapi.KindTap {
			continue
		}
		mac, err := net.ParseMAC(w.MAC)
		if err != nil {
			return fmt.Errorf("vm network: workload %s: mac %q: %w", w.Name, w.MAC, err)
		}
		leases[w.NetworkID] = append(leases[w.NetworkID], vmnet.Lease{MAC: mac, IPv4: w.IPv4})
	}
	var errs []error
	for id, s := range r.vms {
		if _, ok := leases[id]; !ok {
			errs = append(errs, s.Close())
			delete(r.vms, id)
		}
	}
	for id, ls := range leases {
		nr, ok := nrs[id]
		if !ok {
			continue
		}
		if err := r.serveVMsOf(nr, ls); err != nil {
			errs = append(errs, fmt.Errorf("vm network of nr %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (r *reconciler) serveVMsOf(nr nodeapi.NRSpec, ls []vmnet.Lease) error {
	n := resource.NamesOf(nr.NetworkID)
	h, err := link.Handle(r.host)
	if err != nil {
		return err
	}
	defer h.Close()
	br, err := h.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	cfg := vmnet.Config{Gateway: nr.Gateway(), MTU: br.Attrs().MTU, DNS: vmDNS(nr.NetworkID), Prefixes: []netip.Prefix{nr.Subnet6()}}
	if s, ok := r.vms[nr.NetworkID]; ok {
		s.Set(cfg, ls)
		return nil
	}
	ns, err := netns.OpenNamed(r.netnsDir, n.NS)
	if err != nil {
		return err
	}
	defer ns.Close()
	s, err := vmnet.Start(ns, n.Bridge, cfg, ls, r.log)
	if err != nil {
		return err
	}
	r.vms[nr.NetworkID] = s
	r.log.Info("vm network: serving DHCP and RAs", "nr", nr.NetworkID, "vms", len(ls))
	return nil
}
