package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// reportWakes returns the members a new NR report of node must wake (whose desired
// revision it bumps). Members plan from a report's key and port only, and a member
// that alone dials a peer waits for the peer to list it (gridapi.NRReport.Peers): so a
// first report or a new key or port wakes every member that may peer with node
// directly (keyWakes), a report that newly lists
// members wakes those, and anything else (state, probe times, relay, endpoints as
// reported, the periodic refresh) wakes nobody: status readers read reports directly.
// Waking every member for every report made a network's reports cost O(members²)
// desired-state fetches.
func (s *sqlStore) reportWakes(ctx context.Context, tx *sql.Tx, network string, node int64, members []int64, r gridapi.NRReport) ([]int64, error) {
	var doc string
	err := tx.QueryRowContext(ctx, s.d.q("SELECT doc FROM nr_reports WHERE network_id = ? AND node_id = ?"), network, node).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return s.keyWakes(ctx, tx, network, node, members)
	}
	if err != nil {
		return nil, err
	}
	var old gridapi.NRReport
	if json.Unmarshal([]byte(doc), &old) != nil || old.PublicKey != r.PublicKey || old.ListenPort != r.ListenPort {
		return s.keyWakes(ctx, tx, network, node, members)
	}
	var wake []int64
	for _, id := range r.Peers {
		if !slices.Contains(old.Peers, id) && slices.Contains(members, id) {
			wake = append(wake, id)
		}
	}
	return wake, nil
}

// listsOnly returns dn as node sees it: each member's report lists at most node itself
// among its peers (whether it lists this node is all a member needs, see
// gridapi.NRReport.Peers), so a member's desired state grows with the members, not with
// their square. dn is shared (the cache): it is copied, never modified.
func listsOnly(dn gridapi.DesiredNetwork, node int64) gridapi.DesiredNetwork {
	peers := make([]gridapi.PeerFacts, len(dn.Peers))
	for i, p := range dn.Peers {
		peers[i] = p
		if p.NR == nil || len(p.NR.Peers) == 0 {
			continue
		}
		nr := *p.NR
		nr.Peers = nil
		if _, ok := slices.BinarySearch(p.NR.Peers, node); ok { // stored sorted (sortedIDs)
			nr.Peers = []int64{node}
		}
		peers[i].NR = &nr
	}
	dn.Peers = peers
	return dn
}

// sortedIDs sorts and dedups a report's peer list (stored that way, so listsOnly can
// search it).
func sortedIDs(ids []int64) []int64 {
	if len(ids) == 0 {
		return nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// keyWakes returns the members a new key or port of node concerns: those that may
// peer with it directly. Two hidden members never peer over endpoints, only on a
// shared LAN (plan's links), so the key of a hidden member that has no LAN address
// concerns the members that may be reachable and those behind the same source address;
// hidden members reach it through relays, which do not change with its key. In a
// network of 1,000 members, 90 % hidden, this is a tenth of the wakes: every member's
// first report woke all 1,000, so the network's start cost 10⁶ desired-state reads.
// The facts come from the network cache, and only when it is current (its key is
// the members' highest desired revision, as desiredNetwork checks); else, and when
// node may be reachable, every member is woken.
func (s *sqlStore) keyWakes(ctx context.Context, tx *sql.Tx, network string, node int64, members []int64) ([]int64, error) {
	var key int64
	err := tx.QueryRowContext(ctx, s.d.q(`SELECT COALESCE(MAX(n.desired_rev), -1) FROM nodes n
		JOIN members m ON m.node_id = n.id WHERE m.network_id = ?`), network).Scan(&key)
	if err != nil {
		return nil, err
	}
	dn, ok := s.cache.get(network, key)
	if !ok {
		return members, nil
	}
	i := slices.IndexFunc(dn.Peers, func(p gridapi.PeerFacts) bool { return p.NodeID == node })
	if i < 0 || mayBeReachable(dn.Peers[i]) {
		return members, nil
	}
	self := dn.Peers[i]
	known := make(map[int64]bool, len(dn.Peers))
	var wake []int64
	for _, p := range dn.Peers {
		known[p.NodeID] = true
		if p.NodeID == node || mayBeReachable(p) || mayShareLAN(self, p) {
			wake = append(wake, p.NodeID)
		}
	}
	for _, m := range members { // members the cached network does not have yet
		if !known[m] {
			wake = append(wake, m)
		}
	}
	return wake, nil
}

// mayBeReachable: the member has endpoint candidates, a public config, or does not
// say it is hidden (the planner may make it a public member).
func mayBeReachable(p gridapi.PeerFacts) bool {
	return len(p.Facts.Endpoints) > 0 || p.PublicConfig != nil || !p.Facts.Hidden
}

// mayShareLAN: both members came from the same source address and both have a NIC
// address (the planner peers hidden members on a shared private prefix).
func mayShareLAN(a, b gridapi.PeerFacts) bool {
	return a.SourceAddr != "" && a.SourceAddr == b.SourceAddr && hasAddrs(a.Facts) && hasAddrs(b.Facts)
}

func hasAddrs(f gridapi.NodeFacts) bool {
	return slices.ContainsFunc(f.NICs, func(n gridapi.NIC) bool { return len(n.Addrs) > 0 })
}
