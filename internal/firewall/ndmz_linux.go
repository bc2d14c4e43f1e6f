package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sort"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
)

// Names inside NDMZTable.
const (
	Deny4Set    = "deny4"  // IPv4 destinations NRs may not reach
	Deny6Set    = "deny6"  // IPv6 destinations NRs may not reach
	EgressChain = "egress" // NR traffic: the allow list, then the deny sets
	RefuseChain = "refuse" // one counter per uplink, then reject
)

// NDMZ is the ndmz namespace's policy.
type NDMZ struct {
	// UplinkPrefix is the name prefix of the NR uplinks in ndmz (e.g. "u-").
	UplinkPrefix string
	// Egress are the links new connections from uplinks may leave by (masqueraded).
	Egress []string
	// Uplinks are the NR uplinks present (full names); each gets a counter of the
	// packets it had refused.
	Uplinks []string
	// Deny are the destinations NR traffic is refused (reject: TCP reset, else ICMP
	// administratively prohibited). Merged into the sets Deny4Set and Deny6Set.
	Deny []netip.Prefix
	// Allow are the farmer's exceptions to Deny, checked first.
	Allow []Allow
	// Resolver, when valid, is the workloads' DNS forwarder in ndmz: UDP and TCP 53 to
	// it are accepted from the uplinks.
	Resolver netip.Addr
	// Counts are what each uplink's counter starts from when the table is rebuilt
	// (ApplyNDMZ reads them from the kernel when nil).
	Counts map[string]nft.Count
}

// Allow lets NR traffic reach Prefix (on Port of Proto when set) despite Deny.
type Allow struct {
	// Prefix is the destination.
	Prefix netip.Prefix
	// Proto is unix.IPPROTO_TCP or unix.IPPROTO_UDP; 0 = any protocol (Port then 0).
	Proto byte
	// Port is the destination port; 0 = any.
	Port uint16
}

// ApplyNDMZ makes ns hold NDMZTable for d. When the table's rules are already as d
// wants (a version tag on the rules says so), only the deny sets' elements are
// swapped, atomically, and the counters keep counting; else the table is rebuilt in
// one batch with every uplink's refused counter carried over. Idempotent.
func ApplyNDMZ(ns *netns.NS, d NDMZ) error {
	t := ndmzTable(d)
	if nft.Current(ns, t) {
		for _, s := range t.Sets {
			if err := nft.ReplaceElements(ns, t, s); err != nil {
				return err
			}
		}
		return nil
	}
	if d.Counts == nil {
		counts, err := RefusedCounts(ns)
		if err != nil {
			return err
		}
		d.Counts = counts
		t = ndmzTable(d)
	}
	return nft.Apply(ns, t)
}

// RefusedCounts reads the refused counters of ndmz's table, by uplink name (empty when
// the table does not exist yet).
func RefusedCounts(ns *netns.NS) (map[string]nft.Count, error) {
	return nft.Counters(ns, nftables.TableFamilyINet, NDMZTable, RefuseChain)
}

// ndmzTable builds the table and tags its forward chain's last rule with a version of
// its rules (the rendering without set elements and counts), so nft.Current tells a
// table whose rules changed from one whose sets or counts did.
func ndmzTable(d NDMZ) *nft.Table {
	t := buildNDMZ(d)
	bare := d
	bare.Deny, bare.Counts = nil, nil
	sum := sha256.Sum256([]byte(nft.Render(buildNDMZ(bare))))
	for _, c := range t.Chains {
		if c.Name == "forward" {
			c.Rules[len(c.Rules)-1].UserData = []byte("zosnet-ndmz/v1/" + hex.EncodeToString(sum[:8]))
		}
	}
	return t
}

func buildNDMZ(d NDMZ) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyINet, NDMZTable)
	v4, v6 := nft.Ranges(d.Deny)
	t.AddSet(&nft.Set{Name: Deny4Set, Elements: v4})
	t.AddSet(&nft.Set{Name: Deny6Set, IPv6: true, Elements: v6})
	in := t.Filter("input", nftables.ChainHookInput, nftables.ChainPolicyDrop)
	inputBase(in)
	if d.Resolver.IsValid() {
		for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
			in.Add(nft.IIFPrefix(d.UplinkPrefix), nft.InetDAddr(netip.PrefixFrom(d.Resolver, d.Resolver.BitLen())), nft.DPort(proto, 53), nft.Accept())
		}
	}
	fwd := t.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyDrop)
	fwd.Add(nft.Established(), nft.Accept())
	fwd.Add(nft.IIFPrefix(d.UplinkPrefix), nft.Jump(EgressChain))
	nat := t.SNAT("postrouting")
	for _, e := range d.Egress {
		fwd.Add(nft.IIFPrefix(d.UplinkPrefix), nft.OIF(e), nft.Accept())
		nat.Add(nft.IIFPrefix(d.UplinkPrefix), nft.OIF(e), nft.Masquerade(false))
	}
	eg := t.Regular(EgressChain)
	for _, a := range sortedAllow(d.Allow) {
		if a.Proto != 0 && a.Port != 0 {
			eg.Add(nft.InetDAddr(a.Prefix), nft.DPort(a.Proto, a.Port), nft.Return())
		} else if a.Proto != 0 {
			eg.Add(nft.InetDAddr(a.Prefix), nft.L4Proto(a.Proto), nft.Return())
		} else {
			eg.Add(nft.InetDAddr(a.Prefix), nft.Return())
		}
	}
	eg.Add(nft.DAddrIn(Deny4Set, false), nft.Jump(RefuseChain))
	eg.Add(nft.DAddrIn(Deny6Set, true), nft.Jump(RefuseChain))
	ref := t.Regular(RefuseChain)
	ups := append([]string(nil), d.Uplinks...)
	sort.Strings(ups)
	for i, u := range ups {
		if i == 0 || ups[i-1] != u {
			c := d.Counts[u]
			ref.Add(nft.IIF(u), nft.Counter(c.Packets, c.Bytes))
		}
	}
	ref.Add(nft.L4Proto(unix.IPPROTO_TCP), nft.RejectTCPReset())
	ref.Add(nft.RejectProhibited())
	return t
}

// sortedAllow returns allow sorted (prefix, proto, port) without duplicates.
func sortedAllow(allow []Allow) []Allow {
	out := append([]Allow(nil), allow...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c < 0
		}
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return a.Prefix.Bits() < b.Prefix.Bits()
		}
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		return a.Port < b.Port
	})
	var uniq []Allow
	for i, a := range out {
		if i == 0 || a != out[i-1] {
			uniq = append(uniq, a)
		}
	}
	return uniq
}
