package registry

import (
	"net/netip"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// assignSubnets gives every member of spec a subnet of spec.SubnetSize inside
// spec.IPRange and every access peer a /32 in the range's last subnet (reserved for
// access peers when there are any). Assignments in prev (the network before an update;
// nil on create) are kept when range and size are unchanged. Pure; spec must be valid.
func assignSubnets(spec *gridapi.NetworkSpec, prev *gridapi.Network) ([]gridapi.Member, []gridapi.AccessPeer, error) {
	rng := netip.MustParsePrefix(spec.IPRange)
	total := 1 << (spec.SubnetSize - rng.Bits())
	usable := total
	if len(spec.AccessPeers) > 0 {
		usable--
	}
	if len(spec.Members) > usable {
		return nil, nil, invalid("members", "%d members do not fit: %s holds %d /%d subnets for members",
			len(spec.Members), spec.IPRange, usable, spec.SubnetSize)
	}
	same := prev != nil && prev.IPRange == spec.IPRange && prev.SubnetSize == spec.SubnetSize
	taken := make(map[int]bool)
	kept := make(map[int64]int)
	if same {
		for _, m := range prev.Members {
			idx := subnetIndex(rng, spec.SubnetSize, m.Subnet)
			if idx >= 0 && idx < usable && contains(spec.Members, m.NodeID) {
				kept[m.NodeID], taken[idx] = idx, true
			}
		}
	}
	members := make([]gridapi.Member, 0, len(spec.Members))
	next := 0
	for _, id := range spec.Members {
		idx, ok := kept[id]
		if !ok {
			for taken[next] {
				next++
			}
			idx, taken[next] = next, true
		}
		members = append(members, gridapi.Member{NodeID: id, Subnet: subnetAt(rng, spec.SubnetSize, idx).String()})
	}
	peers, err := assignPeers(spec, prev, same, subnetAt(rng, spec.SubnetSize, total-1))
	return members, peers, err
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// assignPeers gives access peers host addresses .2, .3, ... of the access subnet
// (.1 is left for the access node's gateway), keeping a peer's address when its name
// and key are unchanged.
func assignPeers(spec *gridapi.NetworkSpec, prev *gridapi.Network, same bool, sub netip.Prefix) ([]gridapi.AccessPeer, error) {
	if len(spec.AccessPeers) == 0 {
		return []gridapi.AccessPeer{}, nil
	}
	hosts := 1<<(32-sub.Bits()) - 3 // minus network, .1 and broadcast
	if len(spec.AccessPeers) > hosts {
		return nil, invalid("access_peers", "%d access peers do not fit in the access subnet %s (%d addresses)",
			len(spec.AccessPeers), sub, hosts)
	}
	taken := make(map[netip.Addr]bool)
	kept := make(map[string]string)
	if same {
		for _, p := range prev.AccessPeers {
			for _, s := range spec.AccessPeers {
				if s.Name == p.Name && s.PublicKey == p.PublicKey {
					a := netip.MustParsePrefix(p.Address).Addr()
					kept[p.Name], taken[a] = p.Address, true
				}
			}
		}
	}
	out := make([]gridapi.AccessPeer, 0, len(spec.AccessPeers))
	next := sub.Addr().Next().Next()
	for _, s := range spec.AccessPeers {
		addr, ok := kept[s.Name]
		if !ok {
			for taken[next] {
				next = next.Next()
			}
			taken[next] = true
			addr = netip.PrefixFrom(next, 32).String()
		}
		out = append(out, gridapi.AccessPeer{Name: s.Name, PublicKey: s.PublicKey, Address: addr})
	}
	return out, nil
}

// subnetAt returns the idx-th subnet of size bits in rng.
func subnetAt(rng netip.Prefix, bits, idx int) netip.Prefix {
	a := rng.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(idx) << (32 - bits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
}

// subnetIndex is the inverse of subnetAt, or -1.
func subnetIndex(rng netip.Prefix, bits int, s string) int {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Bits() != bits || !rng.Contains(p.Addr()) {
		return -1
	}
	a, b := rng.Addr().As4(), p.Addr().As4()
	d := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) -
		(uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]))
	return int(d >> (32 - bits))
}

// overlaps reports whether two CIDRs overlap.
func overlaps(a, b string) bool {
	pa, err1 := netip.ParsePrefix(a)
	pb, err2 := netip.ParsePrefix(b)
	return err1 == nil && err2 == nil && pa.Overlaps(pb)
}
