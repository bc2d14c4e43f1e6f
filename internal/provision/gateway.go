package provision

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/zosnet/zosnet/internal/gateway"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Gateway is the node's gateway data path as provisiond drives it: the gateway server
// in its namespaces, persisting what it serves (gatewayNode); a fake in tests.
type Gateway interface {
	// Apply makes the gateway serve cfg and persists it (all or nothing).
	Apply(ctx context.Context, cfg gateway.Config) error
	// Status is each served exposure's backends' health and certificate expiry.
	Status() map[string]gridapi.ExposureReport
}

// GatewayFirewall is networkd's gateway firewall API (*localapi.Client).
type GatewayFirewall interface {
	SetGatewayFirewall(ctx context.Context, g nodeapi.GatewayFirewall) error
}

// ExposureReporter sends the gateway's reports to the registry (*gridapi.Client).
type ExposureReporter interface {
	ReportExposure(ctx context.Context, node int64, id string, r gridapi.ExposureReport) error
}

// reportEvery is how often an unchanged exposure report is sent again.
const reportEvery = time.Minute

// gwState is what the loop keeps about the gateway between passes.
type gwState struct {
	applied  string // the last config applied (JSON)
	reported map[string]string
	sentAt   map[string]time.Time
}

// syncGateway makes the gateway serve the exposures of d (none on a node that is no
// gateway): the firewall first opens the union of the old and new ports and backends,
// the gateway switches, then the firewall closes what is no longer used.
func (p *Provisioner) syncGateway(ctx context.Context, d *gridapi.Desired) {
	if p.cfg.Gateway == nil {
		return
	}
	domain := ""
	if d.PublicConfig != nil {
		domain = d.PublicConfig.Domain
	}
	cfg, err := gateway.FromExposures(domain, d.Exposures)
	if err != nil {
		p.log.Warn("gateway: exposures", "err", err)
		return
	}
	b, _ := json.Marshal(cfg)
	if string(b) != p.gw.applied {
		var prev gateway.Config
		_ = json.Unmarshal([]byte(p.gw.applied), &prev)
		if err := p.applyGateway(ctx, prev, cfg); err != nil {
			p.log.Warn("gateway", "err", err)
			return
		}
		p.gw.applied = string(b)
		if len(cfg.Routes) > 0 || len(prev.Routes) > 0 {
			p.log.Info("gateway applied", "routes", len(cfg.Routes))
		}
	}
	p.reportGateway(ctx)
}

func (p *Provisioner) applyGateway(ctx context.Context, prev, cfg gateway.Config) error {
	fw := p.cfg.GatewayFW
	if fw != nil {
		if err := fw.SetGatewayFirewall(ctx, firewallOf(append(slices.Clone(prev.Routes), cfg.Routes...))); err != nil {
			return err
		}
	}
	if err := p.cfg.Gateway.Apply(ctx, cfg); err != nil {
		return err
	}
	if fw != nil {
		return fw.SetGatewayFirewall(ctx, firewallOf(cfg.Routes))
	}
	return nil
}

// firewallOf is what networkd must let through for routes: 80 and 443 with any name,
// the raw ports, and per network the backends (with port 80 of passthrough backends,
// where their ACME HTTP-01 challenges go).
func firewallOf(routes []gateway.Route) nodeapi.GatewayFirewall {
	fw := nodeapi.GatewayFirewall{TCPPorts: []uint16{}, UDPPorts: []uint16{}, Backends: map[string][]string{}}
	add := func(ps *[]uint16, p uint16) {
		if !slices.Contains(*ps, p) {
			*ps = append(*ps, p)
		}
	}
	backend := func(net, s string) {
		if !slices.Contains(fw.Backends[net], s) {
			fw.Backends[net] = append(fw.Backends[net], s)
		}
	}
	for _, r := range routes {
		proto := "tcp"
		switch r.Kind {
		case gridapi.ExposeHTTP:
			add(&fw.TCPPorts, 80)
			add(&fw.TCPPorts, 443)
		case gridapi.ExposeTCP:
			add(&fw.TCPPorts, uint16(r.Port))
		case gridapi.ExposeUDP:
			add(&fw.UDPPorts, uint16(r.Port))
			proto = "udp"
		}
		for _, b := range r.Backends {
			backend(r.Network, proto+":"+b.String())
			if r.TLS == gridapi.TLSPassthrough {
				backend(r.Network, "tcp:"+b.Addr().String()+":80")
			}
		}
	}
	slices.Sort(fw.TCPPorts)
	slices.Sort(fw.UDPPorts)
	for _, v := range fw.Backends {
		slices.Sort(v)
	}
	return fw
}

// reportGateway sends each exposure's report when it changed, and at least every
// reportEvery.
func (p *Provisioner) reportGateway(ctx context.Context) {
	if p.cfg.Reporter == nil {
		return
	}
	if p.gw.reported == nil {
		p.gw.reported, p.gw.sentAt = map[string]string{}, map[string]time.Time{}
	}
	for id, rep := range p.cfg.Gateway.Status() {
		digest := reportDigest(rep)
		if digest == p.gw.reported[id] && time.Since(p.gw.sentAt[id]) < reportEvery {
			continue
		}
		if err := p.cfg.Reporter.ReportExposure(ctx, p.node, id, rep); err != nil {
			p.log.Warn("gateway: report", "exposure", id, "err", err)
			continue
		}
		p.gw.reported[id], p.gw.sentAt[id] = digest, time.Now()
	}
}

// reportDigest is a report without its check times (which change every check).
func reportDigest(r gridapi.ExposureReport) string {
	for i := range r.Backends {
		r.Backends[i].LastCheck = time.Time{}
	}
	b, _ := json.Marshal(r)
	return string(b)
}
