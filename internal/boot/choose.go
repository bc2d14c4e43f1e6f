// Package boot is netinit's core: find the node's plugged physical NICs, probe them all
// with DHCPv4 in parallel, choose the uplink deterministically, build bridge `zos`
// around it, put the lease (or the static configuration) on the bridge, enable SLAAC,
// and wait until the registry answers.
//
// The choice order (Choose) is: the NIC forced with zosnet.nic= (only it qualifies);
// then a lease whose gateway is private (RFC 1918: the farm's OOB/management segment)
// over one whose gateway is public; then the lowest leased address; then the NIC name.
// Only a lease with a default gateway qualifies.
package boot

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/zosnet/zosnet/internal/dhcp"
)

// Probe is the outcome of probing one NIC.
type Probe struct {
	// NIC is the interface probed.
	NIC string
	// Lease is what the NIC got; nil when it got none.
	Lease *dhcp.Lease
	// Err says why there is no lease.
	Err error
}

// Choose picks the uplink among probes (see the package doc for the order). ok is false
// when none qualifies; why then says, per NIC, what was wrong.
func Choose(probes []Probe, forced string) (best Probe, ok bool, why string) {
	var good []Probe
	var reasons []string
	for _, p := range probes {
		switch {
		case forced != "" && p.NIC != forced:
			reasons = append(reasons, p.NIC+": not the forced NIC "+forced)
		case p.Lease == nil:
			reasons = append(reasons, fmt.Sprintf("%s: no lease (%v)", p.NIC, p.Err))
		case !p.Lease.HasGateway():
			reasons = append(reasons, fmt.Sprintf("%s: lease %s has no default gateway", p.NIC, p.Lease.Addr))
		default:
			good = append(good, p)
		}
	}
	if len(good) == 0 {
		if len(probes) == 0 {
			reasons = append(reasons, "no NIC to probe")
		}
		return Probe{}, false, strings.Join(reasons, "; ")
	}
	slices.SortFunc(good, compareProbes)
	return good[0], true, ""
}

func compareProbes(a, b Probe) int {
	pa, pb := a.Lease.Router.IsPrivate(), b.Lease.Router.IsPrivate()
	if pa != pb {
		if pa {
			return -1
		}
		return 1
	}
	if c := a.Lease.Addr.Addr().Compare(b.Lease.Addr.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.NIC, b.NIC)
}
