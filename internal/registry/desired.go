package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Desired implements Store: one consistent read of the node's public config and every
// network it is a member of, with all members' facts and reports.
func (s *sqlStore) Desired(ctx context.Context, node int64) (gridapi.Desired, error) {
	tx, err := s.db.BeginTx(ctx, s.d.readOpts)
	if err != nil {
		return gridapi.Desired{}, err
	}
	defer tx.Rollback()
	d := gridapi.Desired{NodeID: node, Networks: []gridapi.DesiredNetwork{}, Workloads: []gridapi.Workload{}}
	var pc sql.NullString
	var allow string
	err = tx.QueryRowContext(ctx, s.d.q("SELECT n.desired_rev, n.public_config, f.egress_allow FROM nodes n JOIN farms f ON f.id = n.farm_id WHERE n.id = ?"), node).Scan(&d.Revision, &pc, &allow)
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFound("node", node)
	}
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(allow), &d.EgressAllow); err != nil {
		return d, err
	}
	if d.EgressAllow == nil {
		d.EgressAllow = []string{}
	}
	if pc.Valid {
		d.PublicConfig = new(gridapi.PublicConfig)
		if err := json.Unmarshal([]byte(pc.String), d.PublicConfig); err != nil {
			return d, err
		}
	}
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT network_id FROM members WHERE node_id = ? ORDER BY network_id"), node)
	if err != nil {
		return d, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return d, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		dn, err := s.desiredNetwork(ctx, tx, id)
		if err != nil {
			return d, err
		}
		d.Networks = append(d.Networks, listsOnly(dn, node))
	}
	if d.Workloads, err = s.nodeWorkloads(ctx, tx, node); err != nil {
		return d, err
	}
	d.Exposures, err = s.exposuresQ(ctx, tx, "", node)
	return d, err
}

// DesiredRevision implements Store.
func (s *sqlStore) DesiredRevision(ctx context.Context, node int64) (int64, error) {
	var rev int64
	err := s.db.QueryRowContext(ctx, s.d.q("SELECT desired_rev FROM nodes WHERE id = ?"), node).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("node", node)
	}
	return rev, err
}

// NetworkStatus implements Store.
func (s *sqlStore) NetworkStatus(ctx context.Context, id string) (gridapi.DesiredNetwork, error) {
	tx, err := s.db.BeginTx(ctx, s.d.readOpts)
	if err != nil {
		return gridapi.DesiredNetwork{}, err
	}
	defer tx.Rollback()
	// Not from the cache: reports that change nothing a member plans from (state,
	// probe times) wake no member, so they do not change the cache key (reportWakes).
	return s.loadDesiredNetwork(ctx, tx, id)
}

// desiredNetwork returns the network with its members' facts, from the cache when its
// key still matches. The key is the highest desired revision among the members: every
// write that changes what the result holds (the network, a member's facts, source
// address or public config, a report's key or port) sets all members' desired revision
// to its own, new revision, so an unchanged key means an unchanged plan input; the
// members' reports in it may be older than the stored ones (reportWakes), which is why
// NetworkStatus does not use the cache. Cached values are shared: callers must not
// modify them.
func (s *sqlStore) desiredNetwork(ctx context.Context, tx *sql.Tx, id string) (gridapi.DesiredNetwork, error) {
	var key int64
	err := tx.QueryRowContext(ctx, s.d.q(`SELECT COALESCE(MAX(n.desired_rev), -1) FROM nodes n
		JOIN members m ON m.node_id = n.id WHERE m.network_id = ?`), id).Scan(&key)
	if err != nil {
		return gridapi.DesiredNetwork{}, err
	}
	if dn, ok := s.cache.get(id, key); ok {
		return dn, nil
	}
	dn, err := s.loadDesiredNetwork(ctx, tx, id)
	if err == nil && key >= 0 {
		s.cache.put(id, key, dn)
	}
	return dn, err
}

func (s *sqlStore) loadDesiredNetwork(ctx context.Context, tx *sql.Tx, id string) (gridapi.DesiredNetwork, error) {
	n, err := s.networkTx(ctx, tx, id)
	if err != nil {
		return gridapi.DesiredNetwork{}, err
	}
	dn := gridapi.DesiredNetwork{Network: n, Peers: make([]gridapi.PeerFacts, 0, len(n.Members))}
	nodes := make(map[int64]gridapi.Node)
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT "+nodeCols+" FROM nodes WHERE id IN (SELECT node_id FROM members WHERE network_id = ?)"), id)
	if err != nil {
		return dn, err
	}
	for rows.Next() {
		nd, err := scanNode(rows)
		if err != nil {
			rows.Close()
			return dn, err
		}
		nodes[nd.ID] = nd
	}
	rows.Close()
	reports, err := s.reports(ctx, tx, id)
	if err != nil {
		return dn, err
	}
	for _, m := range n.Members {
		nd := nodes[m.NodeID]
		dn.Peers = append(dn.Peers, gridapi.PeerFacts{NodeID: m.NodeID, Name: nd.Name, Subnet: m.Subnet,
			SourceAddr: nd.SourceAddr, Facts: nd.Facts, PublicConfig: nd.PublicConfig, NR: reports[m.NodeID]})
	}
	return dn, nil
}

func (s *sqlStore) reports(ctx context.Context, tx *sql.Tx, network string) (map[int64]*gridapi.NRReport, error) {
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT node_id, doc FROM nr_reports WHERE network_id = ?"), network)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64]*gridapi.NRReport)
	for rows.Next() {
		var id int64
		var doc string
		if err := rows.Scan(&id, &doc); err != nil {
			return nil, err
		}
		r := new(gridapi.NRReport)
		if err := json.Unmarshal([]byte(doc), r); err != nil {
			return nil, err
		}
		out[id] = r
	}
	return out, rows.Err()
}

// netCache caches desiredNetwork results by network id and key. Safe for concurrent use;
// bounded (cleared when full).
type netCache struct {
	mu sync.Mutex
	m  map[string]cachedNet
}

type cachedNet struct {
	key int64
	dn  gridapi.DesiredNetwork
}

const netCacheSize = 4096

func (c *netCache) get(id string, key int64) (gridapi.DesiredNetwork, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e.dn, ok && e.key == key
}

func (c *netCache) put(id string, key int64, dn gridapi.DesiredNetwork) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= netCacheSize {
		c.m = make(map[string]cachedNet)
	}
	if e, ok := c.m[id]; !ok || e.key < key {
		c.m[id] = cachedNet{key: key, dn: dn}
	}
}
