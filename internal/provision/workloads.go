package provision

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// LocalName is the node-local name of a grid workload: <network>-<name>. Network ids
// have no dash, so the name is unambiguous, and it fits nodeapi's 40 characters
// (gridapi.MaxWorkloadName).
func LocalName(network, name string) string { return network + "-" + name }

// localSpec is the networkd spec of a grid workload.
func localSpec(w gridapi.Workload) (nodeapi.WorkloadSpec, error) {
	s := nodeapi.WorkloadSpec{Name: LocalName(w.NetworkID, w.Name), NetworkID: w.NetworkID, Kind: nodeapi.KindNetns,
		ManagedBy: nodeapi.ManagedByGrid, PublicIPv6: w.PublicIPv6}
	if w.Kind == gridapi.KindVM {
		s.Kind = nodeapi.KindTap
	}
	if w.PublicIPv4 != "" {
		p, err := netip.ParsePrefix(w.PublicIPv4)
		if err != nil {
			return s, fmt.Errorf("public_ipv4 %q: %w", w.PublicIPv4, err)
		}
		gw, err := netip.ParseAddr(w.PublicGW4)
		if err != nil {
			return s, fmt.Errorf("public_gw4 %q: %w", w.PublicGW4, err)
		}
		s.PublicIPv4, s.PublicGW4 = p, gw
	}
	return s, s.Validate()
}

// syncWorkloads makes networkd's grid workloads match the registry's list: it adds
// what is missing or different, removes what the registry no longer lists (never a
// workload added by hand), and reports each one. A workload already as wanted is not
// touched.
func (p *Provisioner) syncWorkloads(ctx context.Context, want []gridapi.Workload) {
	have, err := p.cfg.Networkd.ListWorkloads(ctx)
	if err != nil {
		p.log.Warn("list workloads", "err", err)
		return
	}
	mine := map[string]nodeapi.Workload{}
	for _, w := range have {
		if w.ManagedBy == nodeapi.ManagedByGrid {
			mine[w.Name] = w
		}
	}
	keep := map[string]bool{}
	for _, gw := range want {
		name := LocalName(gw.NetworkID, gw.Name)
		keep[name] = true
		info, err := p.ensureWorkload(ctx, gw, mine)
		p.reportWorkload(ctx, gw, info, err)
	}
	for name, w := range mine {
		if keep[name] {
			continue
		}
		if err := p.cfg.Networkd.RemoveWorkload(ctx, name); err != nil {
			p.log.Warn("remove workload", "workload", name, "err", err)
			continue
		}
		delete(p.wlReports, name)
		p.log.Info("workload removed", "workload", name, "network", w.NetworkID)
	}
}

// ensureWorkload returns the workload as networkd runs it, adding (or replacing) it
// when it differs from the registry's.
func (p *Provisioner) ensureWorkload(ctx context.Context, gw gridapi.Workload, mine map[string]nodeapi.Workload) (nodeapi.Workload, error) {
	spec, err := localSpec(gw)
	if err != nil {
		return nodeapi.Workload{}, err
	}
	cur, ok := mine[spec.Name]
	if ok && cur.WorkloadSpec == spec {
		return cur, nil
	}
	if ok { // the registry's workload changed under the same name: replace it
		if err := p.cfg.Networkd.RemoveWorkload(ctx, spec.Name); err != nil {
			return nodeapi.Workload{}, err
		}
	}
	info, err := p.cfg.Networkd.AddWorkload(ctx, spec)
	if err == nil {
		p.log.Info("workload added", "workload", spec.Name, "kind", spec.Kind, "ipv4", info.IPv4, "ipv6", info.IPv6)
	}
	return info, err
}

// reportWorkload reports a workload when its report changed (or the last one failed).
func (p *Provisioner) reportWorkload(ctx context.Context, gw gridapi.Workload, info nodeapi.Workload, aerr error) {
	r := gridapi.WorkloadReport{State: "up"}
	if aerr != nil {
		r.State, r.Error = "error", aerr.Error()
	} else {
		r.IPv4, r.IPv6, r.MAC = info.IPv4.String(), info.IPv6.String(), info.MAC
		if info.PublicIPv4.IsValid() {
			r.PublicIPv4 = info.PublicIPv4.String()
		}
		if info.PublicAddr6.IsValid() {
			r.PublicIPv6 = info.PublicAddr6.String()
		}
	}
	name := LocalName(gw.NetworkID, gw.Name)
	digest := fmt.Sprint(r)
	if p.wlReports[name] == digest && gw.Report != nil && gw.Report.State == r.State {
		return
	}
	if err := p.cfg.Registry.ReportWorkload(ctx, p.node, gw.NetworkID, gw.Name, r); err != nil {
		p.log.Warn("report workload", "workload", name, "err", err)
		return
	}
	p.wlReports[name] = digest
}
