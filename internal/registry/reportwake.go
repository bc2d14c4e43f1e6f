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
// first report, a new key or port, or a change of the hidden peers' observed endpoints
// (which hidden members punch towards; handshake times alone do not count) wakes every
// member, a report that newly lists
// members wakes those, and anything else (state, probe times, relay, endpoints as
// reported, the periodic refresh) wakes nobody: status readers read reports directly.
// Waking every member for every report made a network's reports cost O(members²)
// desired-state fetches.
func (s *sqlStore) reportWakes(ctx context.Context, tx *sql.Tx, network string, node int64, members []int64, r gridapi.NRReport) ([]int64, error) {
	var doc string
	err := tx.QueryRowContext(ctx, s.d.q("SELECT doc FROM nr_reports WHERE network_id = ? AND node_id = ?"), network, node).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return members, nil
	}
	if err != nil {
		return nil, err
	}
	var old gridapi.NRReport
	if json.Unmarshal([]byte(doc), &old) != nil || old.PublicKey != r.PublicKey || old.ListenPort != r.ListenPort ||
		!sameObserved(old.Observed, r.Observed) {
		return members, nil
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

// sameObserved reports whether two reports observed the same hidden peers at the same
// endpoints (handshake times aside).
func sameObserved(a, b []gridapi.ObservedEndpoint) bool {
	return slices.EqualFunc(a, b, func(x, y gridapi.ObservedEndpoint) bool {
		return x.NodeID == y.NodeID && x.Endpoint == y.Endpoint
	})
}
