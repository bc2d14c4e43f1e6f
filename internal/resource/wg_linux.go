package resource

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/wg"
)

// ensureWG makes w-<id> exist in n-<id> with the spec's key, port and peers. A live
// device gets a partial update (only the peers that changed); a missing one (first
// apply, restart, or deleted behind our back) is created and fully configured before
// its link comes up.
func (a *Applier) ensureWG(ns *netns.NS, s nodeapi.NRSpec, key wgtypes.Key, n Names, mtu int) error {
	ino, err := ns.Inode()
	if err != nil {
		return err
	}
	d := a.devs[s.NetworkID]
	if d != nil && (d.nsIno != ino || !linkAlive(ns, d.dev.Index())) {
		a.log().Warn("wireguard link lost, recreating", "nr", s.NetworkID)
		a.closeDev(s.NetworkID)
		d = nil
	}
	if d == nil {
		if d, err = a.newDev(ns, ino, s, key, n, mtu); err != nil {
			return err
		}
		a.devs[s.NetworkID] = d
	} else if cfg, changed := diffConfig(d.spec, s, d.key, key); changed {
		if err := d.dev.Configure(cfg); err != nil {
			return err
		}
		d.spec, d.key = s, key
	}
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByIndex(d.dev.Index())
	if err != nil {
		return fmt.Errorf("find %s: %w", n.WG, err)
	}
	return link.SetMTUUp(h, l, mtu)
}

func (a *Applier) newDev(ns *netns.NS, ino uint64, s nodeapi.NRSpec, key wgtypes.Key, n Names, mtu int) (*nrDev, error) {
	own, err := netns.Open(ns.Path())
	if err != nil {
		return nil, err
	}
	o := wg.Options{Name: n.WG, LinkNS: own, SockNS: a.SockNS, MTU: mtu, Kind: a.kind(), Log: a.log()}
	if o.Kind == wg.Kernel {
		// A kernel link left by the previous run keeps its sessions: take it over.
		if dev, err := wg.Adopt(o); err == nil {
			if err := dev.Configure(adoptConfig(dev, s, key)); err == nil {
				return &nrDev{dev: dev, ns: own, nsIno: ino, spec: s, key: key}, nil
			}
		}
	}
	if err := deleteLink(ns, n.WG); err != nil { // a stale link of a previous run
		own.Close()
		return nil, err
	}
	dev, err := wg.Create(o)
	if err != nil {
		own.Close()
		return nil, err
	}
	cfg := a.withLearned(s.NetworkID, fullConfig(s, key))
	if err := dev.Configure(cfg); err != nil {
		dev.Close()
		own.Close()
		return nil, err
	}
	handshakeNow(dev, cfg)
	return &nrDev{dev: dev, ns: own, nsIno: ino, spec: s, key: key}, nil
}

// handshakeNow makes a new device handshake at once with every peer it has an
// endpoint for (configured, or learned before a restart). Its peers still hold
// sessions with the device this one replaces, which it cannot decrypt: without this,
// a peer would notice only after its own rekey timeout (~15 s of loss); with it, the
// peer accepts the newer handshake and switches in one round trip.
func handshakeNow(dev wg.Device, cfg wgtypes.Config) {
	h, ok := dev.(wg.Handshaker)
	if !ok {
		return
	}
	var keys []wgtypes.Key
	for _, p := range cfg.Peers {
		if p.Endpoint != nil {
			keys = append(keys, p.PublicKey)
		}
	}
	h.Handshake(keys)
}

func (a *Applier) closeDev(id string) {
	if d := a.devs[id]; d != nil {
		a.harvest(id, d)
		d.dev.Close()
		d.ns.Close()
		delete(a.devs, id)
	}
}

// harvest remembers the endpoints a device learned for peers that have none in the
// spec (hidden peers), so that a replacement device can reach them at once instead of
// waiting for their next handshake.
func (a *Applier) harvest(id string, d *nrDev) {
	cur, err := d.dev.Device()
	if err != nil {
		return
	}
	hidden := map[string]bool{}
	for _, p := range d.spec.Peers {
		hidden[p.PublicKey] = p.Endpoint == ""
	}
	for _, p := range cur.Peers {
		if p.Endpoint != nil && hidden[p.PublicKey.String()] {
			if a.learned == nil {
				a.learned = map[string]map[wgtypes.Key]*net.UDPAddr{}
			}
			if a.learned[id] == nil {
				a.learned[id] = map[wgtypes.Key]*net.UDPAddr{}
			}
			a.learned[id][p.PublicKey] = p.Endpoint
		}
	}
}

// withLearned fills harvested endpoints into peers that have none.
func (a *Applier) withLearned(id string, cfg wgtypes.Config) wgtypes.Config {
	for i, p := range cfg.Peers {
		if ep := a.learned[id][p.PublicKey]; p.Endpoint == nil && ep != nil {
			cfg.Peers[i].Endpoint = ep
		}
	}
	return cfg
}

func linkAlive(ns *netns.NS, index int) bool {
	h, err := link.Handle(ns)
	if err != nil {
		return false
	}
	defer h.Close()
	_, err = h.LinkByIndex(index)
	return err == nil
}

func deleteLink(ns *netns.NS, name string) error {
	h, err := link.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return link.Delete(h, name)
}

// fullConfig is the whole device configuration of s.
func fullConfig(s nodeapi.NRSpec, key wgtypes.Key) wgtypes.Config {
	port := int(s.ListenPort)
	cfg := wgtypes.Config{PrivateKey: &key, ListenPort: &port, ReplacePeers: true}
	for _, p := range s.Peers {
		cfg.Peers = append(cfg.Peers, peerConfig(&s, p, true))
	}
	return cfg
}

// adoptConfig reconfigures an adopted device without replacing its peers (their
// sessions stay): peers not in s are removed, the others updated in place.
func adoptConfig(dev wg.Device, s nodeapi.NRSpec, key wgtypes.Key) wgtypes.Config {
	cfg := fullConfig(s, key)
	cfg.ReplacePeers = false
	cur, err := dev.Device()
	if err != nil {
		cfg.ReplacePeers = true
		return cfg
	}
	want := map[wgtypes.Key]bool{}
	for _, p := range cfg.Peers {
		want[p.PublicKey] = true
	}
	for _, p := range cur.Peers {
		if !want[p.PublicKey] {
			cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: p.PublicKey, Remove: true})
		}
	}
	return cfg
}

// diffConfig is the partial update from old to s: removed peers are removed, new or
// changed peers are (re)configured, untouched peers are left out entirely. A changed
// key or port is a full reconfiguration.
func diffConfig(old, s nodeapi.NRSpec, oldKey, key wgtypes.Key) (wgtypes.Config, bool) {
	if oldKey != key || old.ListenPort != s.ListenPort {
		return fullConfig(s, key), true
	}
	var cfg wgtypes.Config
	prev := map[string]nodeapi.Peer{}
	for _, p := range old.Peers {
		prev[p.PublicKey] = p
	}
	for _, p := range s.Peers {
		o, had := prev[p.PublicKey]
		delete(prev, p.PublicKey)
		if had && peerEqual(o, p) && old.NetworkID == s.NetworkID {
			continue
		}
		cfg.Peers = append(cfg.Peers, peerConfig(&s, p, !had || o.Endpoint != p.Endpoint))
	}
	for k := range prev {
		pk, _ := wgtypes.ParseKey(k)
		cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: pk, Remove: true})
	}
	return cfg, len(cfg.Peers) > 0
}

func peerEqual(a, b nodeapi.Peer) bool {
	return a.Endpoint == b.Endpoint && a.PersistentKeepalive == b.PersistentKeepalive && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// peerConfig renders p; the endpoint is only set when withEndpoint, so a hidden or
// roaming peer keeps the address it last spoke from.
func peerConfig(s *nodeapi.NRSpec, p nodeapi.Peer, withEndpoint bool) wgtypes.PeerConfig {
	pk, _ := wgtypes.ParseKey(p.PublicKey) // validated
	ka := time.Duration(p.PersistentKeepalive) * time.Second
	pc := wgtypes.PeerConfig{PublicKey: pk, PersistentKeepaliveInterval: &ka, ReplaceAllowedIPs: true}
	if withEndpoint && p.Endpoint != "" {
		ap := netip.MustParseAddrPort(p.Endpoint)
		pc.Endpoint = net.UDPAddrFromAddrPort(ap)
	}
	for _, a := range s.PeerAllowed(p) {
		pc.AllowedIPs = append(pc.AllowedIPs, *link.IPNet(a))
	}
	return pc
}

// Device returns the live WireGuard state of NR id, or nil if it has no device.
func (a *Applier) Device(id string) (*wgtypes.Device, wg.Kind, error) {
	a.mu.Lock()
	d := a.devs[id]
	a.mu.Unlock()
	if d == nil {
		return nil, "", nil
	}
	dev, err := d.dev.Device()
	return dev, d.dev.Kind(), err
}
