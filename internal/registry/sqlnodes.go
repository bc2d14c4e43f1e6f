package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

const nodeCols = "id, name, farm_id, key, registered, last_seen, source_addr, facts, public_config"

func scanNode(sc interface{ Scan(...any) error }) (gridapi.Node, error) {
	var n gridapi.Node
	var reg, seen int64
	var facts string
	var pc sql.NullString
	if err := sc.Scan(&n.ID, &n.Name, &n.FarmID, &n.Key, &reg, &seen, &n.SourceAddr, &facts, &pc); err != nil {
		return n, err
	}
	n.Registered, n.LastSeen = fromNano(reg), fromNano(seen)
	n.Online = time.Since(n.LastSeen) < gridapi.OnlineWindow
	if err := json.Unmarshal([]byte(facts), &n.Facts); err != nil {
		return n, err
	}
	if pc.Valid {
		n.PublicConfig = new(gridapi.PublicConfig)
		if err := json.Unmarshal([]byte(pc.String), n.PublicConfig); err != nil {
			return n, err
		}
	}
	return n, nil
}

// RegisterNode implements Store.
func (s *sqlStore) RegisterNode(ctx context.Context, actor string, r gridapi.NodeRegister, src string) (gridapi.Node, error) {
	if err := r.Validate(); err != nil {
		return gridapi.Node{}, err
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx, rev int64) ([]int64, error) {
		var name string
		var farm int64
		err := tx.QueryRowContext(ctx, s.d.q("SELECT id, name, farm_id FROM nodes WHERE key = ?"), actor).Scan(&id, &name, &farm)
		if err == nil {
			if name != r.Name || farm != r.FarmID {
				return nil, conflict("name", "this key is registered as node %d %q in farm %d", id, name, farm)
			}
			if _, err := s.exec(ctx, tx, "UPDATE nodes SET last_seen = ? WHERE id = ?", nowNano(), id); err != nil {
				return nil, err
			}
			res, err := s.exec(ctx, tx, "UPDATE nodes SET source_addr = ? WHERE id = ? AND source_addr <> ?", src, id, src)
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return nil, err // same source: nothing changes for the peers
			}
			return s.coMembers(ctx, tx, id)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, s.insertNode(ctx, tx, actor, r, src, rev, &id)
	})
	if err != nil {
		return gridapi.Node{}, err
	}
	s.beats.learn(id, actor, src)
	return s.Node(ctx, itoa(id))
}

// insertNode adds a node whose desired state starts at rev (so a first watch with
// revision 0 answers at once).
func (s *sqlStore) insertNode(ctx context.Context, tx *sql.Tx, actor string, r gridapi.NodeRegister, src string, rev int64, id *int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM farms WHERE id = ?"), r.FarmID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return invalid("farm_id", "farm %d does not exist", r.FarmID)
	}
	if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM nodes WHERE name = ?"), r.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return conflict("name", "node name %q is taken by another key", r.Name)
	}
	now := nowNano()
	facts := mustJSON(gridapi.NodeFacts{NICs: []gridapi.NIC{}, Endpoints: []gridapi.Endpoint{}, WGPorts: []int{}, Version: r.Version})
	return tx.QueryRowContext(ctx, s.d.q(`INSERT INTO nodes (name, farm_id, key, registered, last_seen, source_addr, facts, desired_rev)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), r.Name, r.FarmID, actor, now, now, src, facts, rev).Scan(id)
}

// Nodes implements Store.
func (s *sqlStore) Nodes(ctx context.Context, farm int64) ([]gridapi.Node, error) {
	q, args := "SELECT "+nodeCols+" FROM nodes ORDER BY id", []any{}
	if farm > 0 {
		q, args = s.d.q("SELECT "+nodeCols+" FROM nodes WHERE farm_id = ? ORDER BY id"), []any{farm}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []gridapi.Node{}
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		s.withHeld(&n)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Node implements Store.
func (s *sqlStore) Node(ctx context.Context, idOrName string) (gridapi.Node, error) {
	col, arg := idOrNameArg(idOrName)
	n, err := scanNode(s.db.QueryRowContext(ctx, s.d.q("SELECT "+nodeCols+" FROM nodes WHERE "+col+" = ?"), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("node", idOrName)
	}
	s.withHeld(&n)
	return n, err
}

// nodeOwnedBy checks that node exists and its key is actor (inside tx).
func (s *sqlStore) nodeOwnedBy(ctx context.Context, tx *sql.Tx, node int64, actor string) error {
	var key string
	err := tx.QueryRowContext(ctx, s.d.q("SELECT key FROM nodes WHERE id = ?"), node).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("node", node)
	}
	if err != nil {
		return err
	}
	if key != actor {
		return forbidden("only node %d itself may report for it", node)
	}
	return nil
}

// coMembers returns node and every node sharing a network with it.
func (s *sqlStore) coMembers(ctx context.Context, tx *sql.Tx, node int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, s.d.q(`SELECT DISTINCT m2.node_id FROM members m1
		JOIN members m2 ON m1.network_id = m2.network_id WHERE m1.node_id = ?`), node)
	if err != nil {
		return nil, err
	}
	return collectIDs(rows, []int64{node})
}

// collectRows scans every row with scan and closes rows; the result is never nil (an
// empty list encodes as []).
func collectRows[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func collectIDs(rows *sql.Rows, out []int64) ([]int64, error) {
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SetFacts implements Store. Unchanged facts only refresh last-seen (no new revision
// for the node's peers).
func (s *sqlStore) SetFacts(ctx context.Context, actor string, node int64, f gridapi.NodeFacts, src string) error {
	if err := f.Validate(); err != nil {
		return err
	}
	doc := mustJSON(f)
	var old, oldSrc string
	err := s.db.QueryRowContext(ctx, s.d.q("SELECT facts, source_addr FROM nodes WHERE id = ? AND key = ?"), node, actor).Scan(&old, &oldSrc)
	if err == nil && old == doc && oldSrc == src {
		return s.Heartbeat(ctx, actor, node, src)
	}
	err = s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		if err := s.nodeOwnedBy(ctx, tx, node, actor); err != nil {
			return nil, err
		}
		if _, err := s.exec(ctx, tx, "UPDATE nodes SET facts = ?, source_addr = ?, last_seen = ? WHERE id = ?", doc, src, nowNano(), node); err != nil {
			return nil, err
		}
		return s.coMembers(ctx, tx, node)
	})
	if err == nil {
		s.beats.learn(node, actor, src)
	}
	return err
}

// SetPublicConfig implements Store.
func (s *sqlStore) SetPublicConfig(ctx context.Context, actor string, node int64, p *gridapi.PublicConfig) (gridapi.Node, error) {
	var doc any
	if p != nil {
		if err := p.Validate(); err != nil {
			return gridapi.Node{}, err
		}
		doc = mustJSON(p)
	}
	err := s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		var owner string
		err := tx.QueryRowContext(ctx, s.d.q("SELECT f.owner FROM nodes n JOIN farms f ON f.id = n.farm_id WHERE n.id = ?"), node).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("node", node)
		}
		if err != nil {
			return nil, err
		}
		if owner != actor {
			return nil, forbidden("only the owner of node %d's farm may set its public config", node)
		}
		if err := s.checkGatewayChange(ctx, tx, node, p); err != nil {
			return nil, err
		}
		if _, err := s.exec(ctx, tx, "UPDATE nodes SET public_config = ? WHERE id = ?", doc, node); err != nil {
			return nil, err
		}
		return s.coMembers(ctx, tx, node)
	})
	if err != nil {
		return gridapi.Node{}, err
	}
	return s.Node(ctx, itoa(node))
}
