package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// workloadDoc is what the workloads table keeps in doc: the workload without its
// report (column report) and without the columns it has of its own.
type workloadDoc struct {
	Kind       string `json:"kind"`
	Owner      string `json:"owner"`
	Created    int64  `json:"created"`
	PublicIPv4 string `json:"public_ipv4,omitempty"`
	PublicGW4  string `json:"public_gw4,omitempty"`
	PublicIPv6 bool   `json:"public_ipv6,omitempty"`
}

const workloadCols = "network_id, name, node_id, doc, report"

func scanWorkload(sc interface{ Scan(...any) error }) (gridapi.Workload, error) {
	var w gridapi.Workload
	var doc string
	var report sql.NullString
	if err := sc.Scan(&w.NetworkID, &w.Name, &w.NodeID, &doc, &report); err != nil {
		return w, err
	}
	var d workloadDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return w, err
	}
	w.Kind, w.Owner, w.Created = d.Kind, d.Owner, fromNano(d.Created)
	w.PublicIPv4, w.PublicGW4, w.PublicIPv6 = d.PublicIPv4, d.PublicGW4, d.PublicIPv6
	if report.Valid {
		w.Report = new(gridapi.WorkloadReport)
		if err := json.Unmarshal([]byte(report.String), w.Report); err != nil {
			return w, err
		}
	}
	return w, nil
}

func (s *sqlStore) queryWorkloads(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, where string, args ...any) ([]gridapi.Workload, error) {
	rows, err := q.QueryContext(ctx, s.d.q("SELECT "+workloadCols+" FROM workloads WHERE "+where+" ORDER BY network_id, name"), args...)
	if err != nil {
		return nil, err
	}
	return collectRows(rows, scanWorkload)
}

// CreateWorkload implements Store: the network's owner deploys a workload on a member
// node. With PublicIPv4 the lowest free address of the node's farm pool is taken in
// the same transaction (writers serialize on the revision row: of concurrent requests
// for the last address exactly one gets it).
func (s *sqlStore) CreateWorkload(ctx context.Context, actor, network string, spec gridapi.WorkloadSpec) (gridapi.Workload, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return gridapi.Workload{}, err
	}
	w := gridapi.Workload{NetworkID: network, Name: spec.Name, NodeID: spec.NodeID, Kind: spec.Kind, Owner: actor,
		PublicIPv6: spec.PublicIPv6, Created: fromNano(nowNano())}
	err := s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		n, err := s.networkTx(ctx, tx, network)
		if err != nil {
			return nil, err
		}
		if n.Owner != actor {
			return nil, forbidden("only the owner of network %s may deploy workloads in it", network)
		}
		if !contains(memberIDs(&n), spec.NodeID) {
			return nil, invalid("node_id", "node %d is not a member of network %s: add it first (zosnet network add-node)", spec.NodeID, network)
		}
		if err := s.workloadFree(ctx, tx, network, spec.Name); err != nil {
			return nil, err
		}
		if spec.PublicIPv4 || spec.PublicIPv6 {
			if err := s.checkPublicNode(ctx, tx, spec.NodeID); err != nil {
				return nil, err
			}
		}
		if spec.PublicIPv4 {
			if w.PublicIPv4, w.PublicGW4, err = s.takePublicIP(ctx, tx, spec.NodeID, network, spec.Name); err != nil {
				return nil, err
			}
		}
		doc := mustJSON(workloadDoc{Kind: w.Kind, Owner: actor, Created: w.Created.UnixNano(),
			PublicIPv4: w.PublicIPv4, PublicGW4: w.PublicGW4, PublicIPv6: w.PublicIPv6})
		_, err = s.exec(ctx, tx, "INSERT INTO workloads (network_id, name, node_id, doc) VALUES (?, ?, ?, ?)", network, spec.Name, spec.NodeID, doc)
		return []int64{spec.NodeID}, err
	})
	return w, err
}

func (s *sqlStore) workloadFree(ctx context.Context, tx *sql.Tx, network, name string) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM workloads WHERE network_id = ? AND name = ?"), network, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return conflict("name", "network %s already has a workload named %q", network, name)
	}
	return nil
}

// checkPublicNode refuses public addresses on a node that cannot carry them: a hidden
// node, or one whose public segment (br-pub) has no NIC of its own nor a public config.
func (s *sqlStore) checkPublicNode(ctx context.Context, tx *sql.Tx, node int64) error {
	nd, err := scanNode(tx.QueryRowContext(ctx, s.d.q("SELECT "+nodeCols+" FROM nodes WHERE id = ?"), node))
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("node", node)
	}
	if err != nil {
		return err
	}
	if nd.Facts.Hidden {
		return invalid("node_id", "node %s (%d) is hidden (behind NAT or a firewall): public addresses need a node with a public NIC; pick another node", nd.Name, node)
	}
	for _, e := range nd.Facts.Endpoints {
		if e.Reason == gridapi.ReasonPublicSegment || e.Reason == gridapi.ReasonPublicConfig {
			return nil
		}
	}
	return invalid("node_id", "node %s (%d) has no public NIC (no public segment, no public config): public addresses need one; pick another node", nd.Name, node)
}

// takePublicIP marks the lowest free address of the node's farm pool as used by the
// workload and returns it (CIDR) with its gateway.
func (s *sqlStore) takePublicIP(ctx context.Context, tx *sql.Tx, node int64, network, name string) (string, string, error) {
	var farm int64
	if err := tx.QueryRowContext(ctx, s.d.q("SELECT farm_id FROM nodes WHERE id = ?"), node).Scan(&farm); err != nil {
		return "", "", err
	}
	ips, err := s.publicIPsTx(ctx, tx, farm)
	if err != nil {
		return "", "", err
	}
	for _, ip := range ips {
		if ip.Workload != "" {
			continue
		}
		p := netip.MustParsePrefix(ip.IP)
		res, err := s.exec(ctx, tx, "UPDATE public_ips SET network_id = ?, workload = ? WHERE ip = ? AND workload = ''", network, name, p.Addr().String())
		if err != nil {
			return "", "", err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return "", "", fmt.Errorf("take public ip %s: %d rows, %v", p.Addr(), n, err)
		}
		return ip.IP, ip.Gateway, nil
	}
	return "", "", conflict("public_ipv4", "farm %d has no free public IPv4 address (%d in its pool, all in use): ask the farmer to add some (zosnet farm public-ips add)", farm, len(ips))
}

// DeleteWorkload implements Store: the workload goes, its public address returns to
// the pool, its node is told.
func (s *sqlStore) DeleteWorkload(ctx context.Context, actor, network, name string) error {
	return s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		n, err := s.networkTx(ctx, tx, network)
		if err != nil {
			return nil, err
		}
		if n.Owner != actor {
			return nil, forbidden("only the owner of network %s may remove its workloads", network)
		}
		w, err := s.workloadTx(ctx, tx, network, name)
		if err != nil {
			return nil, err
		}
		if _, err := s.exec(ctx, tx, "UPDATE public_ips SET network_id = '', workload = '' WHERE network_id = ? AND workload = ?", network, name); err != nil {
			return nil, err
		}
		_, err = s.exec(ctx, tx, "DELETE FROM workloads WHERE network_id = ? AND name = ?", network, name)
		return []int64{w.NodeID}, err
	})
}

func (s *sqlStore) workloadTx(ctx context.Context, tx *sql.Tx, network, name string) (gridapi.Workload, error) {
	w, err := scanWorkload(tx.QueryRowContext(ctx, s.d.q("SELECT "+workloadCols+" FROM workloads WHERE network_id = ? AND name = ?"), network, name))
	if errors.Is(err, sql.ErrNoRows) {
		return w, notFound("workload", network+"/"+name)
	}
	return w, err
}

// Workload implements Store.
func (s *sqlStore) Workload(ctx context.Context, network, name string) (gridapi.Workload, error) {
	w, err := scanWorkload(s.db.QueryRowContext(ctx, s.d.q("SELECT "+workloadCols+" FROM workloads WHERE network_id = ? AND name = ?"), network, name))
	if errors.Is(err, sql.ErrNoRows) {
		return w, notFound("workload", network+"/"+name)
	}
	return w, err
}

// Workloads implements Store.
func (s *sqlStore) Workloads(ctx context.Context, network string) ([]gridapi.Workload, error) {
	if _, err := s.Network(ctx, network); err != nil {
		return nil, err
	}
	return s.queryWorkloads(ctx, s.db, "network_id = ?", network)
}

// ReportWorkload implements Store: only the workload's node reports it. Nothing a node
// plans from changes, so no node's desired revision moves.
func (s *sqlStore) ReportWorkload(ctx context.Context, actor string, node int64, network, name string, r gridapi.WorkloadReport) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		if err := s.nodeOwnedBy(ctx, tx, node, actor); err != nil {
			return nil, err
		}
		w, err := s.workloadTx(ctx, tx, network, name)
		if err != nil {
			return nil, err
		}
		if w.NodeID != node {
			return nil, forbidden("workload %s/%s runs on node %d, not %d", network, name, w.NodeID, node)
		}
		r.Updated = fromNano(nowNano())
		_, err = s.exec(ctx, tx, "UPDATE workloads SET report = ? WHERE network_id = ? AND name = ?", mustJSON(r), network, name)
		return []int64{}, err
	})
}

// nodeWorkloads returns what node must run, for Desired.
func (s *sqlStore) nodeWorkloads(ctx context.Context, tx *sql.Tx, node int64) ([]gridapi.Workload, error) {
	return s.queryWorkloads(ctx, tx, "node_id = ?", node)
}

// workloadsBlockChange refuses a network update that would orphan workloads: one
// dropping a node that runs some, or changing the range or subnet size (which moves
// the members' subnets, and with them the workloads' addresses) while any exist.
func (s *sqlStore) workloadsBlockChange(ctx context.Context, tx *sql.Tx, prev gridapi.Network, spec gridapi.NetworkSpec) error {
	network := prev.ID
	ws, err := s.queryWorkloads(ctx, tx, "network_id = ?", network)
	if err != nil || len(ws) == 0 {
		return err
	}
	if spec.IPRange != prev.IPRange || spec.SubnetSize != prev.SubnetSize {
		return conflict("ip_range", "network %s has %d workloads: remove them before changing its range or subnet size", network, len(ws))
	}
	var stuck []string
	for _, w := range ws {
		if !slices.Contains(spec.Members, w.NodeID) {
			stuck = append(stuck, fmt.Sprintf("%s (node %d)", w.Name, w.NodeID))
		}
	}
	if len(stuck) > 0 {
		return conflict("members", "network %s has workloads on the nodes it would drop: %s; remove them first (zosnet workload rm %s NAME)",
			network, strings.Join(stuck, ", "), network)
	}
	return nil
}

// AddPublicIPs implements Store: the farm's owner adds addresses to its pool. An
// address already in any farm's pool is a conflict; nothing is added then.
func (s *sqlStore) AddPublicIPs(ctx context.Context, actor, farm string, a gridapi.PublicIPsAdd) ([]gridapi.PublicIP, error) {
	ips, gw, err := a.Parse()
	if err != nil {
		return nil, err
	}
	var out []gridapi.PublicIP
	err = s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		f, err := s.farmOwnedBy(ctx, tx, farm, actor)
		if err != nil {
			return nil, err
		}
		for i, p := range ips {
			var n int
			if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM public_ips WHERE ip = ?"), p.Addr().String()).Scan(&n); err != nil {
				return nil, err
			}
			if n > 0 {
				return nil, conflict(fmt.Sprintf("ips[%d]", i), "%s is already in a farm's public IP pool", p.Addr())
			}
			if _, err := s.exec(ctx, tx, "INSERT INTO public_ips (ip, farm_id, prefix_len, gateway, network_id, workload) VALUES (?, ?, ?, ?, '', '')",
				p.Addr().String(), f.ID, p.Bits(), gw.String()); err != nil {
				return nil, err
			}
		}
		out, err = s.publicIPsTx(ctx, tx, f.ID)
		return nil, err
	})
	return out, err
}

func (s *sqlStore) farmOwnedBy(ctx context.Context, tx *sql.Tx, farm, actor string) (gridapi.Farm, error) {
	col, arg := idOrNameArg(farm)
	f, err := scanFarm(tx.QueryRowContext(ctx, s.d.q("SELECT "+farmCols+" FROM farms WHERE "+col+" = ?"), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound("farm", farm)
	}
	if err != nil {
		return f, err
	}
	if f.Owner != actor {
		return f, forbidden("only the owner of farm %s may change its public IPs", f.Name)
	}
	return f, nil
}

// PublicIPs implements Store.
func (s *sqlStore) PublicIPs(ctx context.Context, farm string) ([]gridapi.PublicIP, error) {
	f, err := s.Farm(ctx, farm)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, s.d.readOpts)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return s.publicIPsTx(ctx, tx, f.ID)
}

// publicIPsTx returns a farm's pool sorted by address.
func (s *sqlStore) publicIPsTx(ctx context.Context, tx *sql.Tx, farm int64) ([]gridapi.PublicIP, error) {
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT ip, prefix_len, gateway, network_id, workload FROM public_ips WHERE farm_id = ?"), farm)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []gridapi.PublicIP{}
	for rows.Next() {
		var ip, gw, net, wl string
		var bits int
		if err := rows.Scan(&ip, &bits, &gw, &net, &wl); err != nil {
			return nil, err
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("public_ips row %q: %w", ip, err)
		}
		out = append(out, gridapi.PublicIP{IP: netip.PrefixFrom(a, bits).String(), Gateway: gw, FarmID: farm, NetworkID: net, Workload: wl})
	}
	slices.SortFunc(out, func(a, b gridapi.PublicIP) int {
		return netip.MustParsePrefix(a.IP).Addr().Compare(netip.MustParsePrefix(b.IP).Addr())
	})
	return out, rows.Err()
}

// RemovePublicIP implements Store: a free address leaves the pool; one in use is a
// conflict naming its workload.
func (s *sqlStore) RemovePublicIP(ctx context.Context, actor, farm, ip string) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return invalid("ip", "%q is not an IPv4 address", ip)
	}
	return s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		f, err := s.farmOwnedBy(ctx, tx, farm, actor)
		if err != nil {
			return nil, err
		}
		var net, wl string
		err = tx.QueryRowContext(ctx, s.d.q("SELECT network_id, workload FROM public_ips WHERE ip = ? AND farm_id = ?"), a.String(), f.ID).Scan(&net, &wl)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("public ip", a.String()+" of farm "+f.Name)
		}
		if err != nil {
			return nil, err
		}
		if wl != "" {
			return nil, conflict("ip", "%s is used by workload %s of network %s: it must be removed first", a, wl, net)
		}
		_, err = s.exec(ctx, tx, "DELETE FROM public_ips WHERE ip = ?", a.String())
		return nil, err
	})
}
