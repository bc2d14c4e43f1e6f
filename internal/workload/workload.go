// Package workload attaches workloads to a network resource: a network namespace
// through a veth (containers, and the lab's workloads) or a tap for a VM. Addresses
// are deterministic: the IPv4 address is picked from a hash of the workload name in
// the NR's subnet (skipping the gateway and addresses in use), the IPv6 address is its
// ULA twin, the MAC comes from the same hash. workload.go is pure; attach_linux.go
// touches the kernel. Attach and Detach are idempotent.
package workload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"

	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/ula"
)

// Kinds of workload.
const (
	KindNetns = "netns" // a namespace wl-<name> joined by a veth
	KindTap   = "tap"   // a tap t-<hash> on the bridge, for a VM
)

// ErrInvalid marks a refused workload spec.
var ErrInvalid = errors.New("invalid workload")

// Spec is a workload as asked for.
type Spec struct {
	Name      string `json:"name"`       // [a-z0-9-]{1,40}, unique on the node
	NetworkID string `json:"network_id"` // the NR it joins
	Kind      string `json:"kind"`       // netns (default) or tap
}

// Info is a workload as attached: its spec and deterministic addresses.
type Info struct {
	Spec
	IPv4    netip.Prefix `json:"ipv4"`
	IPv6    netip.Prefix `json:"ipv6"`
	Gateway netip.Addr   `json:"gateway"`
	MAC     string       `json:"mac"`
	Netns   string       `json:"netns,omitempty"` // namespace name, for KindNetns
	HostIf  string       `json:"host_if"`         // host end on the bridge (c-… or t-…)
	Tap     string       `json:"tap,omitempty"`   // for KindTap, the same as HostIf
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// Validate checks the spec and fills the default kind.
func (s *Spec) Validate() error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("%w: name: %q must be 1 to 40 of [a-z0-9-], starting with a letter or digit", ErrInvalid, s.Name)
	}
	if err := resource.ValidID(s.NetworkID); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch s.Kind {
	case "":
		s.Kind = KindNetns
	case KindNetns, KindTap:
	default:
		return fmt.Errorf("%w: kind: %q must be netns or tap", ErrInvalid, s.Kind)
	}
	return nil
}

func hash(s Spec) [32]byte { return sha256.Sum256([]byte(s.NetworkID + "/" + s.Name)) }

// HostIf returns the host-side link name: c-<10 hex> (veth) or t-<10 hex> (tap).
func HostIf(s Spec) string {
	h := hash(s)
	p := "c-"
	if s.Kind == KindTap {
		p = "t-"
	}
	return p + hex.EncodeToString(h[:5])
}

// MAC returns the workload's locally administered unicast MAC.
func MAC(s Spec) net.HardwareAddr {
	h := hash(s)
	return net.HardwareAddr{0x02, h[5], h[6], h[7], h[8], h[9]}
}

// Plan returns the workload's addresses in NR nr, avoiding the addresses in used.
// The first choice is the hash of the name; collisions probe the next address.
func Plan(nr resource.Spec, s Spec, used map[netip.Addr]bool) (Info, error) {
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
		tw := ula.Twin(nr.NetworkID, sub)
		info := Info{Spec: s, IPv4: netip.PrefixFrom(a, sub.Bits()),
			IPv6:    netip.PrefixFrom(ula.Addr(nr.NetworkID, a), tw.Bits()),
			Gateway: nr.Gateway(), MAC: MAC(s).String(), HostIf: HostIf(s)}
		if s.Kind == KindTap {
			info.Tap = info.HostIf
		} else {
			info.Netns = "wl-" + s.Name
		}
		return info, nil
	}
	return Info{}, fmt.Errorf("workload %s: subnet %s of network %s is full", s.Name, sub, nr.NetworkID)
}
