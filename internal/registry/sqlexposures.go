package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/zosnet/zosnet/internal/gridapi"
)

const exposureCols = "id, owner, network_id, gateway, doc, report, created"

// exposureDoc is what the doc column holds.
type exposureDoc struct {
	Kind          string   `json:"kind"`
	Name          string   `json:"name,omitempty"`
	FQDN          string   `json:"fqdn,omitempty"`
	TLS           string   `json:"tls,omitempty"`
	Port          int      `json:"port,omitempty"`
	Backends      []string `json:"backends"`
	Resolved      []string `json:"resolved"`
	ProxyProtocol bool     `json:"proxy_protocol,omitempty"`
}

func scanExposure(sc interface{ Scan(...any) error }) (gridapi.Exposure, error) {
	var e gridapi.Exposure
	var doc string
	var report sql.NullString
	var created int64
	if err := sc.Scan(&e.ID, &e.Owner, &e.Network, &e.Gateway, &doc, &report, &created); err != nil {
		return e, err
	}
	if report.Valid {
		e.Status = new(gridapi.ExposureReport)
		if err := json.Unmarshal([]byte(report.String), e.Status); err != nil {
			return e, err
		}
	}
	var d exposureDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return e, err
	}
	e.Kind, e.Name, e.FQDN, e.TLS, e.Port = d.Kind, d.Name, d.FQDN, d.TLS, d.Port
	e.Backends, e.Resolved, e.ProxyProtocol = d.Backends, d.Resolved, d.ProxyProtocol
	e.Created = fromNano(created)
	return e, nil
}

func claimOf(e *gridapi.Exposure) string {
	if e.Kind == gridapi.ExposeHTTP {
		return "name:" + e.Name
	}
	return e.Kind + ":" + strconv.Itoa(e.Port)
}

// CreateExposure implements Store: in one transaction it checks that the signer owns
// the network, picks or checks the gateway, claims the name or port, resolves the
// backends and makes the gateway a member of the network when it is not one yet.
func (s *sqlStore) CreateExposure(ctx context.Context, actor string, spec gridapi.ExposureSpec) (gridapi.Exposure, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return gridapi.Exposure{}, err
	}
	e := gridapi.Exposure{ID: randomID(), Owner: actor, Network: spec.Network, Kind: spec.Kind, Name: spec.Name,
		TLS: spec.TLS, Port: spec.Port, Backends: spec.Backends, ProxyProtocol: spec.ProxyProtocol, Created: fromNano(nowNano())}
	err := s.write(ctx, func(tx *sql.Tx, rev int64) ([]int64, error) {
		n, err := s.networkTx(ctx, tx, spec.Network)
		if err != nil {
			return nil, err
		}
		if n.Owner != actor {
			return nil, forbidden("only the owner of network %s may expose services on it", n.ID)
		}
		gw, err := s.pickGateway(ctx, tx, &spec)
		if err != nil {
			return nil, err
		}
		e.Gateway = gw.ID
		if e.Kind == gridapi.ExposeHTTP {
			e.FQDN = e.Name + "." + gw.PublicConfig.Domain
		}
		if err := s.claim(ctx, tx, &e); err != nil {
			return nil, err
		}
		if e.Resolved, err = s.resolveBackends(ctx, tx, &n, e.Backends); err != nil {
			return nil, err
		}
		affected := []int64{gw.ID}
		if !contains(memberIDs(&n), gw.ID) {
			if err := s.setGatewayMember(ctx, tx, &n, gw.ID, true, rev); err != nil {
				return nil, err
			}
			affected = append(affected, memberIDs(&n)...)
		}
		_, err = s.exec(ctx, tx, "INSERT INTO exposures (id, owner, network_id, gateway, claim, doc, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
			e.ID, e.Owner, e.Network, e.Gateway, claimOf(&e), mustJSON(docOf(&e)), e.Created.UnixNano())
		return affected, err
	})
	return e, err
}

func docOf(e *gridapi.Exposure) exposureDoc {
	return exposureDoc{Kind: e.Kind, Name: e.Name, FQDN: e.FQDN, TLS: e.TLS, Port: e.Port,
		Backends: e.Backends, Resolved: e.Resolved, ProxyProtocol: e.ProxyProtocol}
}

// pickGateway returns the asked gateway after checking it can serve the kind, or the
// capable node with the fewest exposures (then the lowest id).
func (s *sqlStore) pickGateway(ctx context.Context, tx *sql.Tx, spec *gridapi.ExposureSpec) (gridapi.Node, error) {
	if spec.Gateway != 0 {
		n, err := scanNode(tx.QueryRowContext(ctx, s.d.q("SELECT "+nodeCols+" FROM nodes WHERE id = ?"), spec.Gateway))
		if errors.Is(err, sql.ErrNoRows) {
			return n, invalid("gateway", "node %d does not exist", spec.Gateway)
		}
		if err != nil {
			return n, err
		}
		return n, canServe(&n, spec.Kind)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+nodeColsN+`, (SELECT COUNT(*) FROM exposures e WHERE e.gateway = n.id) AS load
		FROM nodes n WHERE n.public_config IS NOT NULL ORDER BY load, n.id`)
	if err != nil {
		return gridapi.Node{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var load int64
		var n gridapi.Node
		var reg, seen int64
		var facts string
		var pc sql.NullString
		if err := rows.Scan(&n.ID, &n.Name, &n.FarmID, &n.Key, &reg, &seen, &n.SourceAddr, &facts, &pc, &load); err != nil {
			return n, err
		}
		n.PublicConfig = new(gridapi.PublicConfig)
		if err := json.Unmarshal([]byte(pc.String), n.PublicConfig); err != nil {
			return n, err
		}
		if canServe(&n, spec.Kind) == nil {
			return n, nil
		}
	}
	if err := rows.Err(); err != nil {
		return gridapi.Node{}, err
	}
	return gridapi.Node{}, conflict("gateway", "no node can serve a %s exposure: none has a public config%s", spec.Kind,
		map[bool]string{true: " with a domain", false: ""}[spec.Kind == gridapi.ExposeHTTP])
}

// nodeColsN is nodeCols on the alias n.
var nodeColsN = "n." + strings.ReplaceAll(nodeCols, ", ", ", n.")

// canServe says why node n cannot be the gateway of an exposure of kind, or nil.
func canServe(n *gridapi.Node, kind string) error {
	switch {
	case n.PublicConfig == nil:
		return invalid("gateway", "node %s has no public config: only public nodes are gateways", n.Name)
	case kind == gridapi.ExposeHTTP && n.PublicConfig.Domain == "":
		return invalid("gateway", "node %s has no gateway domain: its farmer sets one with `zosnet node public-config --domain`", n.Name)
	}
	return nil
}

// claim takes the exposure's name or port on its gateway, picking a free port when
// none was asked for.
func (s *sqlStore) claim(ctx context.Context, tx *sql.Tx, e *gridapi.Exposure) error {
	if e.Kind != gridapi.ExposeHTTP && e.Port == 0 {
		taken, err := s.claims(ctx, tx, e.Gateway)
		if err != nil {
			return err
		}
		for p := gridapi.AutoPortMin; p <= gridapi.AutoPortMax; p++ {
			e.Port = p
			if !taken[claimOf(e)] {
				return nil
			}
		}
		return conflict("port", "no free %s port left in %d-%d on gateway %d", e.Kind, gridapi.AutoPortMin, gridapi.AutoPortMax, e.Gateway)
	}
	var owner, id string
	err := tx.QueryRowContext(ctx, s.d.q("SELECT owner, id FROM exposures WHERE gateway = ? AND claim = ?"), e.Gateway, claimOf(e)).Scan(&owner, &id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	case e.Kind == gridapi.ExposeHTTP && owner == e.Owner:
		return conflict("name", "%s is already yours (exposure %s): remove it first or pick another name", e.FQDN, id)
	case e.Kind == gridapi.ExposeHTTP:
		return conflict("name", "%s is taken by another user: pick another name", e.FQDN)
	}
	return conflict("port", "%s port %d is taken on gateway %d: pick another or leave --port out", e.Kind, e.Port, e.Gateway)
}

func (s *sqlStore) claims(ctx context.Context, tx *sql.Tx, gw int64) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT claim FROM exposures WHERE gateway = ?"), gw)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out[c] = true
	}
	return out, rows.Err()
}

// resolveBackends turns backend references into ip:port on network n. An address must
// be a host of a member's subnet (not its gateway .1): a backend can only ever be on
// the owner's own network, never an arbitrary address the gateway would reach.
func (s *sqlStore) resolveBackends(ctx context.Context, tx *sql.Tx, n *gridapi.Network, refs []string) ([]string, error) {
	out := make([]string, 0, len(refs))
	for i, ref := range refs {
		field := fmt.Sprintf("backends[%d]", i)
		b, err := gridapi.ParseBackend(field, ref)
		if err != nil {
			return nil, err
		}
		if b.Workload != "" {
			if b.Addr, err = s.resolveWorkload(ctx, tx, n, field, b.Workload); err != nil {
				return nil, err
			}
		}
		if err := onNetwork(n, field, b.Addr); err != nil {
			return nil, err
		}
		out = append(out, netip.AddrPortFrom(b.Addr, b.Port).String())
	}
	return out, nil
}

// resolveWorkload resolves a WORKLOAD:PORT backend: the grid workload's IPv4 address on
// network n, as its node reported it. The exposure keeps that address (a workload's
// address is stable: derived from its name on its node).
func (s *sqlStore) resolveWorkload(ctx context.Context, tx *sql.Tx, n *gridapi.Network, field, name string) (netip.Addr, error) {
	w, err := s.workloadTx(ctx, tx, n.ID, name)
	if errors.Is(err, ErrNotFound) {
		return netip.Addr{}, invalid(field, "network %s has no workload %q (zosnet workload list %s)", n.ID, name, n.ID)
	}
	if err != nil {
		return netip.Addr{}, err
	}
	if w.Report == nil || w.Report.IPv4 == "" {
		return netip.Addr{}, conflict(field, "workload %q has no address yet (its node has not reported it): retry in a few seconds", name)
	}
	p, err := netip.ParsePrefix(w.Report.IPv4)
	if err != nil {
		return netip.Addr{}, conflict(field, "workload %q reported a bad address %q", name, w.Report.IPv4)
	}
	return p.Addr(), nil
}

func onNetwork(n *gridapi.Network, field string, a netip.Addr) error {
	for _, m := range n.Members {
		p, err := netip.ParsePrefix(m.Subnet)
		if err != nil || !p.Contains(a) {
			continue
		}
		if a == p.Addr() || a == p.Addr().Next() || !p.Contains(a.Next()) {
			return invalid(field, "%s is the network, gateway or broadcast address of %s", a, p)
		}
		if m.Gateway {
			return invalid(field, "%s is in the subnet of a gateway-only member (it has no workloads)", a)
		}
		return nil
	}
	return invalid(field, "%s is not in a member's subnet of network %s (%s)", a, n.ID, n.IPRange)
}

// setGatewayMember adds (join) or removes a gateway-only member of n and stores n at
// revision rev, keeping every other member's subnet.
func (s *sqlStore) setGatewayMember(ctx context.Context, tx *sql.Tx, n *gridapi.Network, gw int64, join bool, rev int64) error {
	spec := specOf(n)
	if join {
		spec.Members = append(spec.Members, gw)
	} else {
		spec.Members = slices.DeleteFunc(spec.Members, func(id int64) bool { return id == gw })
	}
	gateways := gatewayMembers(n)
	gateways[gw] = join
	members, peers, err := assignSubnets(&spec, n)
	if err != nil {
		return conflict("network", "network %s has no subnet left for gateway %d: %v", n.ID, gw, err)
	}
	for i := range members {
		members[i].Gateway = gateways[members[i].NodeID]
	}
	n.Members, n.AccessPeers, n.Revision = members, peers, rev
	return s.putNetwork(ctx, tx, n, false)
}

func gatewayMembers(n *gridapi.Network) map[int64]bool {
	out := map[int64]bool{}
	for _, m := range n.Members {
		if m.Gateway {
			out[m.NodeID] = true
		}
	}
	return out
}

// specOf is the spec that gives network n (members in order, gateway-only included).
func specOf(n *gridapi.Network) gridapi.NetworkSpec {
	spec := gridapi.NetworkSpec{Name: n.Name, IPRange: n.IPRange, SubnetSize: n.SubnetSize, Members: memberIDs(n)}
	for _, p := range n.AccessPeers {
		spec.AccessPeers = append(spec.AccessPeers, gridapi.AccessPeerSpec{Name: p.Name, PublicKey: p.PublicKey})
	}
	return spec
}

// DeleteExposure implements Store: it frees the name or port at once, and the gateway
// leaves the network with its last exposure there when it joined only for them.
func (s *sqlStore) DeleteExposure(ctx context.Context, actor, id string) error {
	return s.write(ctx, func(tx *sql.Tx, rev int64) ([]int64, error) {
		e, err := s.exposureTx(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if e.Owner != actor {
			return nil, forbidden("only the owner of exposure %s may remove it", id)
		}
		if _, err := s.exec(ctx, tx, "DELETE FROM exposures WHERE id = ?", id); err != nil {
			return nil, err
		}
		var left int
		if err := tx.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM exposures WHERE network_id = ? AND gateway = ?"),
			e.Network, e.Gateway).Scan(&left); err != nil {
			return nil, err
		}
		n, err := s.networkTx(ctx, tx, e.Network)
		if err != nil {
			return nil, err
		}
		if left > 0 || !gatewayMembers(&n)[e.Gateway] {
			return []int64{e.Gateway}, nil
		}
		affected := memberIDs(&n)
		return affected, s.setGatewayMember(ctx, tx, &n, e.Gateway, false, rev)
	})
}

func (s *sqlStore) exposureTx(ctx context.Context, tx *sql.Tx, id string) (gridapi.Exposure, error) {
	e, err := scanExposure(tx.QueryRowContext(ctx, s.d.q("SELECT "+exposureCols+" FROM exposures WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, notFound("exposure", id)
	}
	return e, err
}

// Exposure implements Store.
func (s *sqlStore) Exposure(ctx context.Context, id string) (gridapi.Exposure, error) {
	e, err := scanExposure(s.db.QueryRowContext(ctx, s.d.q("SELECT "+exposureCols+" FROM exposures WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, notFound("exposure", id)
	}
	return e, err
}

// Exposures implements Store.
func (s *sqlStore) Exposures(ctx context.Context, owner string, gateway int64) ([]gridapi.Exposure, error) {
	return s.exposuresQ(ctx, s.db, owner, gateway)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *sqlStore) exposuresQ(ctx context.Context, db querier, owner string, gateway int64) ([]gridapi.Exposure, error) {
	q, args := "SELECT "+exposureCols+" FROM exposures WHERE 1 = 1", []any{}
	if owner != "" {
		q, args = q+" AND owner = ?", append(args, owner)
	}
	if gateway != 0 {
		q, args = q+" AND gateway = ?", append(args, gateway)
	}
	rows, err := db.QueryContext(ctx, s.d.q(q+" ORDER BY created, id"), args...)
	if err != nil {
		return nil, err
	}
	return collectRows(rows, scanExposure)
}

// keepGateways adds to spec the gateways serving exposures of network id that the
// owner did not list, and returns them: an update of the network never drops them.
func (s *sqlStore) keepGateways(ctx context.Context, tx *sql.Tx, id string, spec *gridapi.NetworkSpec) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, s.d.q("SELECT DISTINCT gateway FROM exposures WHERE network_id = ?"), id)
	if err != nil {
		return nil, err
	}
	ids, err := collectIDs(rows, nil)
	if err != nil {
		return nil, err
	}
	out := map[int64]bool{}
	for _, gw := range ids {
		if !contains(spec.Members, gw) {
			spec.Members = append(spec.Members, gw)
			out[gw] = true
		}
	}
	return out, nil
}

// checkGatewayChange refuses a public config change that would strand exposures (the
// config removed while the node serves any; the domain changed while it serves names)
// or give the node a domain another node has (a name would have two gateways).
func (s *sqlStore) checkGatewayChange(ctx context.Context, tx *sql.Tx, node int64, p *gridapi.PublicConfig) error {
	es, err := s.exposuresQ(ctx, tx, "", node)
	if err != nil {
		return err
	}
	prev, err := scanNode(tx.QueryRowContext(ctx, s.d.q("SELECT "+nodeCols+" FROM nodes WHERE id = ?"), node))
	if err != nil {
		return err
	}
	names := 0
	for _, e := range es {
		if e.Kind == gridapi.ExposeHTTP {
			names++
		}
	}
	switch {
	case p == nil && len(es) > 0:
		return conflict("", "node %d serves %d exposures: their owners remove them (zosnet expose rm) before the public config goes", node, len(es))
	case p != nil && names > 0 && prev.PublicConfig != nil && p.Domain != prev.PublicConfig.Domain:
		return conflict("domain", "node %d serves %d names under %s: they are removed before the domain changes", node, names, prev.PublicConfig.Domain)
	case p == nil || p.Domain == "":
		return nil
	}
	var other int64
	err = tx.QueryRowContext(ctx, s.d.q("SELECT id FROM nodes WHERE id <> ? AND public_config LIKE ?"),
		node, `%"domain":"`+p.Domain+`"%`).Scan(&other)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return conflict("domain", "%s is the gateway domain of node %d already", p.Domain, other)
}

// ReportExposure implements Store: only the exposure's gateway node reports on it.
func (s *sqlStore) ReportExposure(ctx context.Context, actor string, node int64, id string, r gridapi.ExposureReport) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx, _ int64) ([]int64, error) {
		if err := s.nodeOwnedBy(ctx, tx, node, actor); err != nil {
			return nil, err
		}
		e, err := s.exposureTx(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if e.Gateway != node {
			return nil, forbidden("node %d is not the gateway of exposure %s", node, id)
		}
		r.Updated = fromNano(nowNano())
		_, err = s.exec(ctx, tx, "UPDATE exposures SET report = ? WHERE id = ?", mustJSON(r), id)
		return nil, err
	})
}
