package plan

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/zosnet/zosnet/internal/ula"
)

func (p *Planner) loadDevices(ds []AccessPeer, sp *space) error {
	var errs []error
	names := map[string]bool{}
	addrs := map[netip.Addr]string{}
	keys := p.keys // the members' keys, and the devices' as they come
	for i, d := range ds {
		field := fmt.Sprintf("access[%d]", i)
		err := validateDevice(d, field, func(f string) error { return sp.reserve(d.Address, owner{"device", d.Name}, f) })
		switch {
		case err != nil:
		case names[d.Name]:
			err = invalid(field+".name", "%q appears twice", d.Name)
		case addrs[d.Address] != "":
			err = invalid(field+".address", "%s is already used by device %q", d.Address, addrs[d.Address])
		case has(keys, d.PublicKey):
			err = invalid(field+".public_key", "already used by a member or another device")
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		names[d.Name], addrs[d.Address] = true, d.Name
		keys[d.PublicKey] = struct{}{}
		p.devices = append(p.devices, device{AccessPeer: d, node: -1})
	}
	slices.SortFunc(p.devices, func(a, b device) int { return cmp.Compare(a.Name, b.Name) })
	return errors.Join(errs...)
}

// chooseAccessNodes gives every device a public member reachable over a family the
// device can use: the pinned one (Via), else the best-ranked one, IPv4 before IPv6 when
// the device did not say.
func (p *Planner) chooseAccessNodes() error {
	p.devOf = map[int][]int{}
	var errs []error
	for d := range p.devices {
		dev := &p.devices[d]
		fams := []int{0, 1}
		if dev.Family != "" {
			fams = []int{fam(dev.Family)}
		}
		cands := p.rank("access\x00"+dev.Name, p.public)
		if dev.Via != "" {
			i, ok := p.find(dev.Via)
			if !ok || !p.nodes[i].public {
				errs = append(errs, fmt.Errorf("%w: access device %q: via %q is not a public member of network %s",
					ErrImpossible, dev.Name, dev.Via, p.netID))
				continue
			}
			cands = []int{i}
		}
		dev.node, dev.fam = pickAccess(p.nodes, cands, fams)
		if dev.node < 0 {
			errs = append(errs, fmt.Errorf("%w: access device %q needs a public member reachable over %s: add a node with such an endpoint",
				ErrImpossible, dev.Name, cmp.Or(string(dev.Family), "IPv4 or IPv6")))
			continue
		}
		p.devOf[dev.node] = append(p.devOf[dev.node], d)
	}
	return errors.Join(errs...)
}

func has(set map[string]struct{}, k string) bool { _, ok := set[k]; return ok }

func pickAccess(nodes []node, cands, fams []int) (int, int) {
	for _, f := range fams {
		for _, i := range cands {
			if nodes[i].reach[f].IsValid() {
				return i, f
			}
		}
	}
	return -1, -1
}

func (p *Planner) device(d int) DevicePlan {
	dev := &p.devices[d]
	n := &p.nodes[dev.node]
	return DevicePlan{Name: dev.Name, Address: dev.Address, Address6: ula.AddrIn(p.net48, dev.Address), AccessNode: n.id, Peer: Peer{
		NodeID: n.id, Name: n.name, PublicKey: n.key,
		Endpoint:   netip.AddrPortFrom(n.reach[dev.fam], uint16(n.port)),
		AllowedIPs: []netip.Prefix{p.rng, p.ula}, Keepalive: Keepalive, Path: PathAccess,
	}}
}
