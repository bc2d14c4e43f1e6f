package resource

import (
	"github.com/google/nftables"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nft"
)

// NFTTable is the nftables table (family inet) every NR namespace owns.
const NFTTable = "zosnet-nr"

// ensureNFT rebuilds the NR's table in one batch, only when it is not current:
// rebuilding costs an RCU grace period (~13 ms) and runs on every resync otherwise.
func ensureNFT(ns *netns.NS, n Names) error {
	t := nrTable(n)
	if nft.Current(ns, t) {
		return nil
	}
	return nft.Apply(ns, t)
}

// nrTable is the NR's forwarding policy: workloads on the bridge may go anywhere; from
// the tunnel only to the bridge or back into the tunnel (relaying between peers);
// replies always. The last rule carries a tag of this ruleset's version and names, so
// nft.Current tells an up-to-date table from an old one without reading the rules.
func nrTable(n Names) *nft.Table {
	t := nft.NewTable(nftables.TableFamilyINet, NFTTable)
	fwd := t.Filter("forward", nftables.ChainHookForward, nftables.ChainPolicyDrop)
	fwd.Add(nft.Established(), nft.Accept())
	fwd.Add(nft.IIF(n.Bridge), nft.Accept())
	fwd.Add(nft.IIF(n.WG), nft.OIF(n.Bridge), nft.Accept())
	// Relay: a public node forwards between peers (hidden nodes reach each other, and
	// the rest of the network, through it).
	fwd.Add(nft.IIF(n.WG), nft.OIF(n.WG), nft.Accept())
	fwd.Rules[len(fwd.Rules)-1].UserData = []byte("zosnet-nr/v2/" + n.Bridge + "/" + n.WG)
	return t
}
