// Package workload attaches workloads (nodeapi.Workload) to a network resource: a
// network namespace through a veth (containers, and the lab's workloads) or a tap for
// a VM. Addresses are deterministic: the IPv4 address is picked from a hash of the
// workload name in the NR's subnet (skipping the gateway and addresses in use), the
// IPv6 address is its ULA twin (a VM's: the SLAAC address of its MAC in the twin /64),
// the MAC comes from the same hash. workload.go is pure;
// attach_linux.go touches the kernel. Attach, Detach and GC are idempotent.
package workload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/ula"
	"github.com/zosnet/zosnet/internal/vmnet"
)

// Name prefixes of the kernel objects a workload owns; GC removes only these.
const (
	VethPrefix  = "c-"  // host end of a netns workload's veth: c-<10 hex>
	TapPrefix   = "t-"  // a VM workload's tap: t-<10 hex>
	NetnsPrefix = "wl-" // a netns workload's namespace: wl-<name>
	// PublicPrefix names the host end of a public workload's interface on br-pub:
	// p-<10 hex> (a veth to pub0 in the namespace, or a second tap for a VM).
	PublicPrefix = "p-"
)

// PublicIfName is a netns workload's public interface inside its namespace.
const PublicIfName = "pub0"

// hostIfLen is the length of a host link name: a prefix and 10 hex digits.
const hostIfLen = 12

func hash(s nodeapi.WorkloadSpec) [32]byte {
	return sha256.Sum256([]byte(s.NetworkID + "/" + s.Name))
}

// HostIf returns the host-side link name: c-<10 hex> (veth) or t-<10 hex> (tap).
func HostIf(s nodeapi.WorkloadSpec) string {
	h := hash(s)
	p := VethPrefix
	if s.Kind == nodeapi.KindTap {
		p = TapPrefix
	}
	return p + hex.EncodeToString(h[:5])
}

// PublicIf returns the host end of a public workload's br-pub interface: p-<10 hex>.
func PublicIf(s nodeapi.WorkloadSpec) string {
	h := hash(s)
	return PublicPrefix + hex.EncodeToString(h[20:25])
}

// IsHostIf reports whether a host link name has the shape of a workload's (c-/t-/p-
// and 10 hex digits), so GC never touches a link that is not ours.
func IsHostIf(name string) bool {
	if len(name) != hostIfLen {
		return false
	}
	for _, p := range []string{VethPrefix, TapPrefix, PublicPrefix} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			_, err := hex.DecodeString(rest)
			return err == nil
		}
	}
	return false
}

// MAC returns the workload's locally administered unicast MAC.
func MAC(s nodeapi.WorkloadSpec) net.HardwareAddr {
	h := hash(s)
	return net.HardwareAddr{0x02, h[5], h[6], h[7], h[8], h[9]}
}

// PublicMAC returns the locally administered unicast MAC of the workload's br-pub
// interface (another part of the same hash than MAC's).
func PublicMAC(s nodeapi.WorkloadSpec) net.HardwareAddr {
	h := hash(s)
	return net.HardwareAddr{0x02, h[25], h[26], h[27], h[28], h[29]}
}

// PublicAddr6 is the global IPv6 address a public workload takes in the public
// segment's /64 (prefix): the EUI-64 of its public MAC, as SLAAC would make it.
func PublicAddr6(prefix netip.Prefix, s nodeapi.WorkloadSpec) netip.Prefix {
	return netip.PrefixFrom(vmnet.EUI64(prefix.Masked(), PublicMAC(s)), 64)
}

// Plan returns the workload's addresses in NR nr, avoiding the addresses in used.
// The first choice is the hash of the name; collisions probe the next address.
func Plan(nr nodeapi.NRSpec, s nodeapi.WorkloadSpec, used map[netip.Addr]bool) (nodeapi.Workload, error) {
	sub := nr.Subnet
	size := uint32(1) << (32 - sub.Bits())
	hosts := size - 3 // minus network, gateway (.1) and broadcast
	base := binary.BigEndian.Uint32(sub.Addr().AsSlice())
	h := hash(s)
	start := binary.BigEndian.Uint32(h[10:14]) % hosts
	for i := uint32(0); i < hosts; i++ {
		off := 2 + (start+i)%hosts
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+off)
		a := netip.AddrFrom4(b)
		if used[a] {
			continue
		}
		tw := nr.Subnet6()
		info := nodeapi.Workload{WorkloadSpec: s, IPv4: netip.PrefixFrom(a, sub.Bits()),
			IPv6:    netip.PrefixFrom(ula.Addr(nr.NetworkID, a), tw.Bits()),
			Gateway: nr.Gateway(), MAC: MAC(s).String(), HostIf: HostIf(s), NetworkRange: nr.IPRange}
		if s.Public() {
			// the public IPv6 address and router are the node's (networkd adds them)
			info.PublicIf, info.PublicMAC = PublicIf(s), PublicMAC(s).String()
		}
		if s.Kind == nodeapi.KindTap {
			// a VM takes its IPv6 by SLAAC from the NR's RAs (package vmnet): the
			// EUI-64 of its MAC, so that anti-spoofing and SLAAC agree
			info.Tap = info.HostIf
			info.IPv6 = netip.PrefixFrom(vmnet.EUI64(tw, MAC(s)), tw.Bits())
		} else {
			info.Netns = NetnsPrefix + s.Name
		}
		return info, nil
	}
	return nodeapi.Workload{}, fmt.Errorf("workload %s: subnet %s of network %s is full", s.Name, sub, nr.NetworkID)
}
