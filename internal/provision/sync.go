package provision

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/ula"
)

// applyPublic hands a changed public config to networkd and makes its addresses
// endpoint candidates in the node's facts.
func (p *Provisioner) applyPublic(ctx context.Context, pc *gridapi.PublicConfig) {
	if p.pubDone && reflect.DeepEqual(pc, p.public) {
		return
	}
	var err error
	if pc == nil {
		err = p.cfg.Networkd.UnsetPublicConfig(ctx)
	} else {
		var cfg nodeapi.PublicConfig
		if cfg, err = nodeapi.ParsePublicConfig(pc.IPv4, pc.GW4, pc.IPv6, pc.GW6, pc.Domain); err == nil {
			err = p.cfg.Networkd.SetPublicConfig(ctx, cfg)
		}
	}
	if err != nil {
		p.log.Warn("public config", "err", err)
		return
	}
	p.cfg.Agent.SetPublicConfig(pc)
	p.public, p.pubDone = pc, true
	p.log.Info("public config applied", "config", pc)
}

// applyEgressAllow hands a changed farm egress allow list to networkd. An entry that
// does not parse (the registry validates them, so only a newer registry could send
// one) stops the whole list: nothing is half-applied, and it is tried again on the
// next pass.
func (p *Provisioner) applyEgressAllow(ctx context.Context, allow []string) {
	if p.allowOK && slices.Equal(allow, p.allow) {
		return
	}
	list := make([]nodeapi.EgressAllow, 0, len(allow))
	for i, s := range allow {
		a, err := nodeapi.ParseEgressAllow(s)
		if err != nil {
			p.log.Warn("egress allow list from the registry", "entry", i, "err", err)
			return
		}
		list = append(list, a)
	}
	if err := p.cfg.Networkd.SetEgressAllow(ctx, list); err != nil {
		p.log.Warn("egress allow list", "err", err)
		return
	}
	p.allow, p.allowOK = slices.Clone(allow), true
	p.log.Info("egress allow list applied", "allow", allow)
}

// syncNetwork plans the node's view of one network and makes its network resource match.
// gen is the desired state's generation (Provisioner.gen): plans are cached by it.
func (p *Provisioner) syncNetwork(ctx context.Context, n gridapi.DesiredNetwork, gen uint64) error {
	st := p.nets[n.ID]
	if st == nil {
		st = &netState{}
		p.nets[n.ID] = st
	}
	self, ok := selfOf(n, p.node)
	if !ok {
		return fmt.Errorf("node %d is not in the member list", p.node)
	}
	cur, err := p.ensureNR(ctx, n, self)
	if err != nil {
		return err
	}
	spec, mp, perr := p.planSpec(n, st, cur, gen)
	state, lastErr := "up", ""
	if perr != nil {
		state, lastErr = "error", perr.Error()
	} else if !sameSpec(spec, cur.Spec) {
		if cur, err = p.cfg.Networkd.PutNR(ctx, spec); err != nil {
			state, lastErr = "error", err.Error()
		} else {
			p.log.Info("network resource updated", "network", n.ID, "peers", len(spec.Peers), "relay_groups", len(mp.RelayGroups), "failed_over", len(st.moved))
		}
	}
	if state == "up" {
		p.trace.applied(n, cur, time.Now())
	}
	if cur.Status.State == nodeapi.StateError && lastErr == "" {
		state, lastErr = "error", cur.Status.LastError
	}
	p.probe(n, st, cur, mp)
	return p.report(ctx, n, st, cur, state, lastErr)
}

func selfOf(n gridapi.DesiredNetwork, node int64) (gridapi.PeerFacts, bool) {
	for _, m := range n.Peers {
		if m.NodeID == node {
			return m, true
		}
	}
	return gridapi.PeerFacts{}, false
}

// ensureNR returns the node's network resource, creating it without peers (to get a
// key and a port to report) or moving it to a new subnet first when needed.
func (p *Provisioner) ensureNR(ctx context.Context, n gridapi.DesiredNetwork, self gridapi.PeerFacts) (nodeapi.NR, error) {
	cur, err := p.cfg.Networkd.GetNR(ctx, n.ID)
	if err == nil || !localapi.IsNotFound(err) {
		return cur, err
	}
	rng, err := netip.ParsePrefix(n.IPRange)
	if err != nil {
		return cur, fmt.Errorf("ip_range %q: %w", n.IPRange, err)
	}
	sub, err := netip.ParsePrefix(self.Subnet)
	if err != nil {
		return cur, fmt.Errorf("subnet %q: %w", self.Subnet, err)
	}
	cur, err = p.cfg.Networkd.PutNR(ctx, nodeapi.NRSpec{NetworkID: n.ID, Name: n.Name, IPRange: rng, Subnet: sub, Peers: []nodeapi.Peer{}})
	if err == nil {
		p.trace.mark(n.ID, StepCreated, 0, time.Now())
		p.log.Info("network resource created", "network", n.ID, "subnet", sub, "port", cur.Status.ListenPort)
	}
	return cur, err
}

// planSpec computes the spec the node's NR must have, relay failover included.
func (p *Provisioner) planSpec(n gridapi.DesiredNetwork, st *netState, cur nodeapi.NR, gen uint64) (nodeapi.NRSpec, plan.MemberPlan, error) {
	cp := p.memberPlan(n, st, cur, gen)
	mp := cp.mp
	if cp.err != nil {
		return nodeapi.NRSpec{}, mp, cp.err
	}
	peers := mp.Peers
	if len(mp.RelayGroups) > 0 || st.groups != nil {
		current := p.failover(n.ID, st, mp)
		if len(st.moved) > 0 { // mp.Peers has every group on its primary
			peers = plan.WithRelay(mp, current)
		}
	}
	peers = p.holdDials(n, st, cur, peers, time.Now())
	st.observed = observedOf(n, mp, cur, time.Now())
	peers = p.punchPeers(n, st, cur, mp, peers, time.Now())
	s := specOf(mp, cp.rng, n.ID, peers, int(cur.Status.ListenPort))
	s.Name = n.Name
	return s, mp, nil
}

// memberPlan returns the node's plan of network n (st.plan when it was made from the
// same desired state, key and port; else a new one, kept there).
func (p *Provisioner) memberPlan(n gridapi.DesiredNetwork, st *netState, cur nodeapi.NR, gen uint64) *cachedPlan {
	k := planKey{gen: gen, key: cur.Status.PublicKey, port: cur.Status.ListenPort}
	if st.plan != nil && st.plan.key == k {
		return st.plan
	}
	cp := &cachedPlan{key: k}
	st.plan = cp
	in, err := plan.FromGrid(n, plan.Self{NodeID: p.node, PublicKey: cur.Status.PublicKey, ListenPort: int(cur.Status.ListenPort)})
	if err != nil {
		cp.err = err
		return cp
	}
	cp.rng = in.Network.Range
	pl, err := plan.New(in)
	if err != nil {
		cp.err = err
		return cp
	}
	cp.mp, cp.err = pl.Member(strconv.FormatInt(p.node, 10))
	return cp
}

// sameSpec reports whether networkd's spec already is s: field by field, nil and
// empty lists agreeing (no JSON round trip: with 1,000 peers it ran on every pass).
func sameSpec(a, b nodeapi.NRSpec) bool {
	if a.NetworkID != b.NetworkID || a.Name != b.Name || a.IPRange != b.IPRange || a.Subnet != b.Subnet ||
		a.ListenPort != b.ListenPort || len(a.Peers) != len(b.Peers) {
		return false
	}
	for i, p := range a.Peers {
		q := b.Peers[i]
		if p.PublicKey != q.PublicKey || p.Endpoint != q.Endpoint || p.PersistentKeepalive != q.PersistentKeepalive ||
			!slices.Equal(p.AllowedIPs, q.AllowedIPs) {
			return false
		}
	}
	return true
}

// proberAt is where a network's member prober sends from (the NR's namespace) and its
// ICMP echo id (the punch watcher's is the next one).
func (p *Provisioner) proberAt(netID string) (nsPath string, id uint16) {
	h := fnv.New32a()
	h.Write([]byte(netID))
	return filepath.Join(p.cfg.NetnsDir, resource.NamesOf(netID).NS), uint16(h.Sum32())
}

// probe (re)starts the NR's prober and points it at every other member's gateway.
func (p *Provisioner) probe(n gridapi.DesiredNetwork, st *netState, cur nodeapi.NR, mp plan.MemberPlan) {
	src := cur.Spec.Gateway()
	if st.probe == nil || st.probeSrc != src.String() {
		if st.probe != nil {
			st.probe.Close()
			st.probe = nil
		}
		nsPath, id := p.proberAt(n.ID)
		pr, err := p.cfg.OpenProber(nsPath, src, id)
		if err != nil {
			p.log.Warn("overlay probe", "network", n.ID, "err", err)
			return
		}
		st.probe, st.probeSrc, st.probeFor = pr, src.String(), planKey{}
	}
	if st.plan == nil || st.probeFor != st.plan.key { // the members changed (or may have)
		st.probe.SetTargets(probeTargets(n, p.node))
		if st.plan != nil {
			st.probeFor = st.plan.key
		}
	}
	st.probe.Send()
}

// probeTargets maps every other member's gateway to its node id.
func probeTargets(n gridapi.DesiredNetwork, self int64) map[netip.Addr]int64 {
	targets := make(map[netip.Addr]int64, len(n.Peers))
	for _, m := range n.Peers {
		if m.NodeID == self {
			continue
		}
		if sub, err := netip.ParsePrefix(m.Subnet); err == nil {
			targets[gatewayOf(sub)] = m.NodeID
		}
	}
	return targets
}

// report sends the NR's report when it differs from the last one, or every 15 s so that
// probe times stay fresh.
func (p *Provisioner) report(ctx context.Context, n gridapi.DesiredNetwork, st *netState, cur nodeapi.NR, state, lastErr string) error {
	r := gridapi.NRReport{PublicKey: cur.Status.PublicKey, ListenPort: int(cur.Status.ListenPort), State: state,
		LastError: lastErr, RelayGroups: st.moved, Endpoints: []string{}, Peers: peerIDs(n, cur)}
	if st.own != nil && st.own.relay.Current != st.own.group.Relays[0] {
		r.Relay = st.own.relay.Current // "" on the primary
	}
	r.Observed = st.observed
	r.NAT, r.Punch = st.punch.report()
	if self, ok := selfOf(n, p.node); ok {
		for _, e := range self.Facts.Endpoints {
			if a, err := netip.ParseAddr(e.IP); err == nil && e.Reachable() {
				r.Endpoints = append(r.Endpoints, netip.AddrPortFrom(a, cur.Status.ListenPort).String())
			}
		}
	}
	var fresh []int64
	if st.probe != nil {
		seen := st.probe.Seen()
		p.trace.answers(n.ID, seen)
		for id, t := range seen {
			r.Seen = append(r.Seen, gridapi.PeerSeen{NodeID: id, LastReply: t.UTC()})
			if time.Since(t) < p.cfg.Fresh {
				fresh = append(fresh, id)
			}
		}
	}
	slices.SortFunc(r.Seen, func(a, b gridapi.PeerSeen) int { return int(a.NodeID - b.NodeID) })
	slices.Sort(fresh)
	digest := fmt.Sprint(r.PublicKey, r.ListenPort, r.State, r.LastError, r.Relay, r.RelayGroups, r.Endpoints, fresh, r.Peers) + punchDigest(r)
	if digest == st.report && time.Since(st.reportedAt) < 15*time.Second {
		return nil
	}
	if err := p.cfg.Registry.ReportNR(ctx, p.node, n.ID, r); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	st.report, st.reportedAt = digest, time.Now()
	if r.PublicKey != "" {
		p.trace.mark(n.ID, StepReported, 0, st.reportedAt)
	}
	return nil
}

// removeOthers deletes the network resources of networks the node is no longer in.
func (p *Provisioner) removeOthers(ctx context.Context, want map[string]bool) {
	nrs, err := p.cfg.Networkd.ListNRs(ctx)
	if err != nil {
		p.log.Warn("list network resources", "err", err)
		return
	}
	for _, nr := range nrs {
		id := nr.Spec.NetworkID
		if want[id] {
			continue
		}
		if err := p.cfg.Networkd.DeleteNR(ctx, id); err != nil && !errors.Is(err, nodeapi.ErrNotFound) {
			p.log.Warn("remove network resource", "network", id, "err", err)
			continue
		}
		p.log.Info("network resource removed", "network", id)
	}
	for id, st := range p.nets {
		if !want[id] {
			if st.probe != nil {
				st.probe.Close()
			}
			st.punch.close()
			delete(p.nets, id)
			p.trace.forget(id)
		}
	}
}

// specOf builds the network resource spec networkd applies for a member's plan with the
// given peer entries (plan.WithRelay's result after a failover). IPv6 allowed IPs
// inside the network's ULA are left out: networkd adds the twin of every IPv4 one.
func specOf(pl plan.MemberPlan, rng netip.Prefix, netID string, peers []plan.Peer, port int) nodeapi.NRSpec {
	ula48 := ula.Net48(netID)
	s := nodeapi.NRSpec{NetworkID: netID, IPRange: rng, Subnet: pl.Subnet, ListenPort: uint16(port), Peers: []nodeapi.Peer{}}
	for _, p := range peers {
		rp := nodeapi.Peer{PublicKey: p.PublicKey, PersistentKeepalive: p.Keepalive, AllowedIPs: []netip.Prefix{}}
		if p.Endpoint.IsValid() {
			rp.Endpoint = p.Endpoint.String()
		}
		for _, a := range p.AllowedIPs {
			if a.Addr().Is6() && ula48.Overlaps(a) {
				continue
			}
			rp.AllowedIPs = append(rp.AllowedIPs, a)
		}
		s.Peers = append(s.Peers, rp)
	}
	return s
}

// gatewayOf returns the probe address of a member: the first host of its subnet, where
// its network resource answers.
func gatewayOf(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }
