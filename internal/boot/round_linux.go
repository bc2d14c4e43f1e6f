package boot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/dhcp"
)

// round is one attempt: find NICs, probe them, choose, build zos and configure it.
func (o *Options) round(ctx context.Context, h *netlink.Handle) (*Result, error) {
	nics, err := listNICs(h)
	if err != nil {
		return nil, err
	}
	if err := o.forcedExists(nics); err != nil {
		return nil, err
	}
	cands, raised, left := o.candidates(h, nics)
	defer o.restore(h, raised)
	if len(cands) == 0 {
		return nil, errors.New("no NIC to use: " + strings.Join(left, "; "))
	}
	if o.Cmdline.VLANPriv != 0 {
		var made []string
		cands, made, err = o.vlanLinks(h, cands)
		defer o.dropUnused(h, made) // a failed round leaves no VLAN link behind
		if err != nil {
			return nil, err
		}
	}
	if o.Cmdline.Static != nil {
		return o.static(h, cands)
	}
	probes := o.probeAll(ctx, cands)
	best, ok, why := Choose(probes, o.Cmdline.NIC)
	o.release(probes, best.NIC)
	if !ok {
		return nil, errors.New(why)
	}
	o.Log.Info("uplink chosen", "nic", best.NIC, "lease", best.Lease.String())
	cfg := dhcp.ConfigOf(best.Lease, time.Now())
	if err := o.build(h, best.NIC, cfg); err != nil {
		return nil, err
	}
	return &Result{NIC: best.NIC, Lease: best.Lease, Config: cfg}, nil
}

// candidates returns the names of NICs that qualify, sets down ones up and waits for
// their carrier, and logs what was considered and why others were left out (left).
// raised lists the NICs this round set up.
func (o *Options) candidates(h *netlink.Handle, nics []NIC) (cands, raised, left []string) {
	for _, n := range nics {
		if n.Reason != "" {
			left = append(left, n.Name+": "+n.Reason)
			continue
		}
		if o.Cmdline.NIC != "" && n.Name != o.Cmdline.NIC {
			left = append(left, n.Name+": not the forced NIC (zosnet.nic="+o.Cmdline.NIC+")")
			continue
		}
		if l, err := h.LinkByIndex(n.Index); err == nil && l.Attrs().RawFlags&1 == 0 { // IFF_UP
			if err := h.LinkSetUp(l); err != nil {
				left = append(left, fmt.Sprintf("%s: cannot set up: %v", n.Name, err))
				continue
			}
			raised = append(raised, n.Name)
		}
		cands = append(cands, n.Name)
	}
	cands, noCarrier := o.waitCarrier(h, cands, raised)
	for _, n := range noCarrier {
		left = append(left, n+": no carrier")
	}
	o.Log.Info("NICs considered", "candidates", strings.Join(cands, ","), "left_out", strings.Join(left, "; "))
	return cands, raised, left
}

// waitCarrier splits names by carrier. NICs this round just set up (raised) get up to
// CarrierWait to show it (autonegotiation); NICs that were already up are not waited for.
func (o *Options) waitCarrier(h *netlink.Handle, names, raised []string) (with, without []string) {
	deadline := time.Now().Add(o.CarrierWait)
	for {
		with, without = nil, nil
		waiting := false
		for _, n := range names {
			if hasCarrier(h, n) {
				with = append(with, n)
				continue
			}
			without = append(without, n)
			waiting = waiting || slices.Contains(raised, n)
		}
		if !waiting || time.Now().After(deadline) {
			return with, without
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restore sets down the NICs this round set up and did not end up in zos.
func (o *Options) restore(h *netlink.Handle, raised []string) {
	inUse := map[int]bool{} // lower links of enslaved ones (the chosen NIC under its VLAN link)
	if links, err := h.LinkList(); err == nil {
		for _, l := range links {
			if v, ok := l.(*netlink.Vlan); ok && v.MasterIndex != 0 {
				inUse[v.ParentIndex] = true
			}
		}
	}
	for _, n := range raised {
		l, err := h.LinkByName(n)
		if err != nil || l.Attrs().MasterIndex != 0 || inUse[l.Attrs().Index] {
			continue
		}
		if err := h.LinkSetDown(l); err != nil {
			o.Log.Warn("set unused NIC down", "nic", n, "err", err)
		}
	}
}

// probeGrace is how long the other probes may still answer once one NIC has a lease
// with a gateway: enough for a server on another segment, without waiting a whole
// round for a NIC whose segment has no DHCP at all.
const probeGrace = 2 * time.Second

// probeAll probes every candidate at once, each on its own raw socket, for at most one
// round, ending probeGrace after the first lease with a gateway.
func (o *Options) probeAll(ctx context.Context, names []string) []Probe {
	ctx, cancel := context.WithTimeout(ctx, o.ProbeRound)
	defer cancel()
	probes := make([]Probe, len(names))
	var wg sync.WaitGroup
	var once sync.Once
	for i, n := range names {
		wg.Go(func() {
			probes[i] = o.probe(ctx, n)
			if probes[i].Lease.HasGateway() {
				once.Do(func() { time.AfterFunc(probeGrace, cancel) })
			}
		})
	}
	wg.Wait()
	return probes
}

func (o *Options) probe(ctx context.Context, nic string) Probe {
	p := Probe{NIC: nic}
	c, err := dhcp.Open(o.NS, nic, o.Log)
	if err != nil {
		p.Err = err
		return p
	}
	defer c.Close()
	if p.Lease, err = c.Discover(ctx); err != nil {
		p.Err = errors.New("no DHCP answer")
	}
	return p
}

// release gives back the leases of the NICs not chosen (best effort).
func (o *Options) release(probes []Probe, chosen string) {
	for _, p := range probes {
		if p.Lease == nil || p.NIC == chosen {
			continue
		}
		if c, err := dhcp.Open(o.NS, p.NIC, o.Log); err == nil {
			c.Release(p.Lease)
			c.Close()
		}
	}
}

// static configures zosnet.static= on the forced NIC or the first with carrier.
func (o *Options) static(h *netlink.Handle, cands []string) (*Result, error) {
	if len(cands) == 0 {
		return nil, errors.New("zosnet.static: no NIC with carrier to put the address on")
	}
	s := o.Cmdline.Static
	cfg := dhcp.Config{Addr: s.Addr, Gateway: s.Gateway}
	if s.DNS.IsValid() {
		cfg.DNS = []netip.Addr{s.DNS}
	}
	o.Log.Info("uplink chosen (static)", "nic", cands[0], "addr", s.Addr, "gateway", s.Gateway)
	if err := o.build(h, cands[0], cfg); err != nil {
		return nil, err
	}
	return &Result{NIC: cands[0], Config: cfg}, nil
}

// build makes zos around nic and puts cfg on it; on failure it undoes what it did.
func (o *Options) build(h *netlink.Handle, nic string, cfg dhcp.Config) (err error) {
	link, err := h.LinkByName(nic)
	if err != nil {
		return fmt.Errorf("uplink %s: %w", nic, err)
	}
	_, missing := h.LinkByName(Bridge)
	br, err := ensureBridge(h, link)
	if err != nil {
		return &fatalError{err}
	}
	defer func() {
		if err != nil && missing != nil {
			h.LinkDel(br)
		}
	}()
	if err := dhcp.Apply(h, br, cfg, nil); err != nil {
		return err
	}
	return dhcp.WriteResolvConf(o.ResolvConf, cfg.DNS)
}

// vlanLinks replaces every candidate by its vlan:priv= link; made lists the links it
// created (also when it fails part way).
func (o *Options) vlanLinks(h *netlink.Handle, cands []string) (out, made []string, err error) {
	out = make([]string, 0, len(cands))
	for _, n := range cands {
		nic, err := h.LinkByName(n)
		if err != nil {
			return nil, made, err
		}
		_, existed := h.LinkByName(VLANLink(nic, o.Cmdline.VLANPriv).Name)
		v, err := ensureVLAN(h, nic, o.Cmdline.VLANPriv)
		if errors.Is(err, ErrNoVLAN) {
			return nil, made, &fatalError{err}
		}
		if err != nil {
			return nil, made, err
		}
		if existed != nil {
			made = append(made, v.Attrs().Name)
		}
		out = append(out, v.Attrs().Name)
	}
	return out, made, nil
}

// dropUnused deletes the links of made that are not enslaved to a bridge (the one
// netinit chose is, to zos): VLAN links of NICs not chosen, or of a failed round.
func (o *Options) dropUnused(h *netlink.Handle, made []string) {
	for _, n := range made {
		l, err := h.LinkByName(n)
		if err != nil || l.Attrs().MasterIndex != 0 {
			continue
		}
		if err := h.LinkDel(l); err != nil {
			o.Log.Warn("delete unused VLAN link", "link", n, "err", err)
		}
	}
}

// forcedExists checks that zosnet.nic= names a link of the node.
func (o *Options) forcedExists(nics []NIC) error {
	if o.Cmdline.NIC == "" {
		return nil
	}
	var names []string
	for _, n := range nics {
		if n.Name == o.Cmdline.NIC {
			if n.Reason != "" {
				return fmt.Errorf("zosnet.nic=%s: cannot be used: %s", n.Name, n.Reason)
			}
			return nil
		}
		names = append(names, n.Name)
	}
	return fmt.Errorf("zosnet.nic=%s: no such link (links: %s)", o.Cmdline.NIC, strings.Join(names, ", "))
}
