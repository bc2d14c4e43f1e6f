package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/zosnet/zosnet/internal/gridapi"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

type networkDoc struct {
	Members     []gridapi.Member     `json:"members"`
	AccessPeers []gridapi.AccessPeer `json:"access_peers"`
}

const networkCols = "id, name, owner, ip_range, subnet_size, doc, revision, created"

func scanNetwork(sc interface{ Scan(...any) error }) (gridapi.Network, error) {
	var n gridapi.Network
	var doc string
	var created int64
	if err := sc.Scan(&n.ID, &n.Name, &n.Owner, &n.IPRange, &n.SubnetSize, &doc, &n.Revision, &created); err != nil {
		return n, err
	}
	n.Created = fromNano(created)
	var d networkDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return n, err
	}
	n.Members, n.AccessPeers = d.Members, d.AccessPeers
	return n, nil
}

func (s *sqlStore) networkTx(ctx context.Context, tx *sql.Tx, id string) (gridapi.Network, error) {
	n, err := scanNetwork(tx.QueryRowContext(ctx, s.d.q("SELECT "+networkCols+" FROM networks WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("network", id)
	}
	return n, err
}

// checkSpec checks, inside tx, what a spec needs from other rows: members exist, the
// owner has no other network with this name or an overlapping range.
func (s *sqlStore) checkSpec(ctx context.Context, tx *sql.Tx, owner, self string, spec *gridapi.NetworkSpec) error {
	for i, m := range spec.Members {
		var n int
		if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM nodes WHERE id = ?"), m).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return invalid(fmt.Sprintf("members[%d]", i), "node %d does not exist", m)
		}
	}
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT id, name, ip_range FROM networks WHERE owner = ? AND id <> ?"), owner, self)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, name, rng string
		if err := rows.Scan(&id, &name, &rng); err != nil {
			return err
		}
		if name == spec.Name {
			return conflict("name", "you already have a network named %q (%s)", name, id)
		}
		if overlaps(rng, spec.IPRange) {
			return conflict("ip_range", "%s overlaps %s of your network %q (%s)", spec.IPRange, rng, name, id)
		}
	}
	return rows.Err()
}

func (s *sqlStore) putNetwork(ctx context.Context, tx *sql.Tx, n *gridapi.Network, insert bool) error {
	doc := mustJSON(networkDoc{Members: n.Members, AccessPeers: n.AccessPeers})
	var err error
	if insert {
		_, err = s.exec(ctx, tx, "INSERT INTO networks ("+networkCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			n.ID, n.Name, n.Owner, n.IPRange, n.SubnetSize, doc, n.Revision, n.Created.UnixNano())
	} else {
		_, err = s.exec(ctx, tx, "UPDATE networks SET name = ?, ip_range = ?, subnet_size = ?, doc = ?, revision = ? WHERE id = ?",
			n.Name, n.IPRange, n.SubnetSize, doc, n.Revision, n.ID)
	}
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, tx, "DELETE FROM members WHERE network_id = ?", n.ID); err != nil {
		return err
	}
	for _, m := range n.Members {
		if _, err := s.exec(ctx, tx, "INSERT INTO members (network_id, node_id) VALUES (?, ?)", n.ID, m.NodeID); err != nil {
			return err
		}
	}
	_, err = s.exec(ctx, tx, "DELETE FROM nr_reports WHERE network_id = ? AND node_id NOT IN (SELECT node_id FROM members WHERE network_id = ?)", n.ID, n.ID)
	return err
}

func memberIDs(n *gridapi.Network) []int64 {
	out := make([]int64, 0, len(n.Members))
	for _, m := range n.Members {
		out = append(out, m.NodeID)
	}
	return out
}

// CreateNetwork implements Store.
func (s *sqlStore) CreateNetwork(ctx context.Context, actor string, spec gridapi.NetworkSpec) (gridapi.Network, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return gridapi.Network{}, err
	}
	members, peers, err := assignSubnets(&spec, nil)
	if err != nil {
		return gridapi.Network{}, err
	}
	n := gridapi.Network{ID: randomID(), Name: spec.Name, Owner: actor, IPRange: spec.IPRange, SubnetSize: spec.SubnetSize,
		Members: members, AccessPeers: peers, Created: fromNano(nowNano())}
	err = s.write(ctx, func(tx *sql.Tx, rev int64) ([]int64, error) {
		if err := s.checkSpec(ctx, tx, actor, "", &spec); err != nil {
			return nil, err
		}
		n.Revision = rev
		return memberIDs(&n), s.putNetwork(ctx, tx, &n, true)
	})
	return n, err
}

// UpdateNetwork implements Store.
func (s *sqlStore) UpdateNetwork(ctx context.Context, actor, id string, spec gridapi.NetworkSpec) (gridapi.Network, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return gridapi.Network{}, err
	}
	var n gridapi.Network
	err := s.write(ctx, func(tx *sql.Tx, rev int64) ([]int64, error) {
		prev, err := s.networkTx(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if prev.Owner != actor {
			return nil, forbidden("only the owner of network %s may change it", id)
		}
		if spec.Revision != 0 && spec.Revision != prev.Revision {
			return nil, conflict("revision", "network %s is at revision %d, not %d: re-read and retry", id, prev.Revision, spec.Revision)
		}
		if err := s.checkSpec(ctx, tx, actor, id, &spec); err != nil {
			return nil, err
		}
		if err := s.workloadsBlockChange(ctx, tx, prev, spec); err != nil {
			return nil, err
		}
		gateways, err := s.keepGateways(ctx, tx, id, &spec)
		if err != nil {
			return nil, err
		}
		members, peers, err := assignSubnets(&spec, &prev)
		if err != nil {
			return nil, err
		}
		for i := range members {
			members[i].Gateway = gateways[members[i].NodeID]
		}
		n = prev
		n.Name, n.IPRange, n.SubnetSize, n.Members, n.AccessPeers, n.Revision = spec.Name, spec.IPRange, spec.SubnetSize, members, peers, rev
		return append(memberIDs(&prev), memberIDs(&n)...), s.putNetwork(ctx, tx, &n, false)
	})
	return n, err
}

// DeleteNetwork implements Store: the network goes with its workloads (their public
// addresses return to their pools); the members are told and remove them.
func (s *sqlStore) DeleteNetwork(ctx context.Context, actor, id string) error {
	return s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		prev, err := s.networkTx(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if prev.Owner != actor {
			return nil, forbidden("only the owner of network %s may delete it", id)
		}
		for _, q := range []string{"UPDATE public_ips SET network_id = '', workload = '' WHERE network_id = ?",
			"DELETE FROM workloads WHERE network_id = ?", "DELETE FROM exposures WHERE network_id = ?", "DELETE FROM nr_reports WHERE network_id = ?", "DELETE FROM members WHERE network_id = ?", "DELETE FROM networks WHERE id = ?"} {
			if _, err := s.exec(ctx, tx, q, id); err != nil {
				return nil, err
			}
		}
		return memberIDs(&prev), nil
	})
}

// Networks implements Store.
func (s *sqlStore) Networks(ctx context.Context, owner string) ([]gridapi.Network, error) {
	q, args := "SELECT "+networkCols+" FROM networks ORDER BY created, id", []any{}
	if owner != "" {
		q, args = s.d.q("SELECT "+networkCols+" FROM networks WHERE owner = ? ORDER BY created, id"), []any{owner}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []gridapi.Network{}
	for rows.Next() {
		n, err := scanNetwork(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Network implements Store.
func (s *sqlStore) Network(ctx context.Context, id string) (gridapi.Network, error) {
	n, err := scanNetwork(s.db.QueryRowContext(ctx, s.d.q("SELECT "+networkCols+" FROM networks WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("network", id)
	}
	return n, err
}

// ReportNR implements Store.
func (s *sqlStore) ReportNR(ctx context.Context, actor string, node int64, network string, r gridapi.NRReport) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		if err := s.nodeOwnedBy(ctx, tx, node, actor); err != nil {
			return nil, err
		}
		n, err := s.networkTx(ctx, tx, network)
		if err != nil {
			return nil, err
		}
		if !contains(memberIDs(&n), node) {
			return nil, conflict("", "node %d is not a member of network %s", node, network)
		}
		r.Updated = fromNano(nowNano())
		r.Peers = sortedIDs(r.Peers)
		wake, err := s.reportWakes(ctx, tx, network, node, memberIDs(&n), r)
		if err != nil {
			return nil, err
		}
		if _, err := s.exec(ctx, tx, "DELETE FROM nr_reports WHERE network_id = ? AND node_id = ?", network, node); err != nil {
			return nil, err
		}
		_, err = s.exec(ctx, tx, "INSERT INTO nr_reports (network_id, node_id, doc) VALUES (?, ?, ?)", network, node, mustJSON(r))
		return wake, err
	})
}
