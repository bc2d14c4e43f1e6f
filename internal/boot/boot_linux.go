package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/cmdline"
	"github.com/zosnet/zosnet/internal/dhcp"
	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// Options configure Run. Zero durations take the defaults shown.
type Options struct {
	// NS is the node's network namespace; nil means the caller's (netinit on a node).
	NS *netns.NS
	// Cmdline is the parsed kernel command line.
	Cmdline cmdline.Config
	// ResolvConf is where DHCP or static name servers are written ("" = nowhere).
	ResolvConf string
	// Log gets what was considered and one line per failed round.
	Log *slog.Logger
	// ProbeRound bounds one parallel DHCP probe round (default 10 s).
	ProbeRound time.Duration
	// CarrierWait is how long a NIC just set up gets to show carrier (default 3 s).
	CarrierWait time.Duration
	// MaxBackoff caps the wait between failed rounds (default 30 s; first wait 1 s).
	MaxBackoff time.Duration
}

// Result is what Run configured.
type Result struct {
	// NIC is the uplink enslaved to bridge zos (the VLAN link with vlan:priv=).
	NIC string
	// Lease is the DHCP lease on zos; nil with zosnet.static=.
	Lease *dhcp.Lease
	// Config is what is on zos.
	Config dhcp.Config
	// Reused is true when zos was already configured and nothing was changed.
	Reused bool
}

// Run brings the node online: uplink on bridge zos with an address and a default route,
// SLAAC on, and the default gateway answering (the seed's condition: an address that
// comes with a gateway, i.e. Internet connectivity). The registry is not waited for:
// provisiond keeps retrying it and reports its state, so networkd (and with it the
// node's data plane) starts while the grid database is down. Run retries forever
// (capped exponential backoff) until ctx ends; errors that retrying cannot fix (no
// registry URL, zos of another type) stop it at once. Running it on a configured node
// changes nothing.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	// the registry's URL and CA file are checked now (provisiond needs them), but the
	// registry itself is not waited for
	if _, err := NewChecker(o.Cmdline.Registry, o.Cmdline.CAFile, o.NS); err != nil {
		return nil, err
	}
	h, err := o.handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	res, err := o.configured(h)
	if err != nil {
		return nil, err
	}
	if res == nil {
		if res, err = o.uplink(ctx, h); err != nil {
			return nil, err
		}
	}
	if err := enableSLAAC(o.NS, Bridge); err != nil {
		return res, err
	}
	return res, o.waitGateway(ctx, h, res.Config.Gateway)
}

func (o *Options) defaults() {
	if o.ProbeRound == 0 {
		o.ProbeRound = 10 * time.Second
	}
	if o.CarrierWait == 0 {
		o.CarrierWait = 3 * time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) handle() (*netlink.Handle, error) {
	return link.Handle(o.NS)
}

// configured returns a Result when zos already holds a port, an IPv4 address and a
// default route (a second run), nil when the node still needs its uplink.
func (o *Options) configured(h *netlink.Handle) (*Result, error) {
	br, err := h.LinkByName(Bridge)
	if err != nil {
		return nil, nil
	}
	if br.Type() != "bridge" {
		return nil, fmt.Errorf("link %s exists and is a %s, not a bridge: remove it", Bridge, br.Type())
	}
	addrs, err := h.AddrList(br, unix.AF_INET)
	if err != nil || len(addrs) == 0 {
		return nil, nil
	}
	gw, ok := defaultGateway(h, br)
	port := portOf(h, br)
	if !ok || port == "" {
		return nil, nil
	}
	ip, _ := netip.AddrFromSlice(addrs[0].IP.To4())
	ones, _ := addrs[0].Mask.Size()
	cfg := dhcp.Config{Addr: netip.PrefixFrom(ip, ones), Gateway: gw}
	o.Log.Info("zos is already configured, changing nothing", "nic", port, "addr", cfg.Addr, "gateway", gw)
	return &Result{NIC: port, Config: cfg, Reused: true}, nil
}

func defaultGateway(h *netlink.Handle, br netlink.Link) (netip.Addr, bool) {
	rs, err := h.RouteList(br, unix.AF_INET)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, r := range rs {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw != nil {
			gw, ok := netip.AddrFromSlice(r.Gw.To4())
			return gw, ok
		}
	}
	return netip.Addr{}, false
}

func portOf(h *netlink.Handle, br netlink.Link) string {
	links, _ := h.LinkList()
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			return l.Attrs().Name
		}
	}
	return ""
}

// uplink retries rounds of discovery until one NIC qualifies, then builds zos on it.
func (o *Options) uplink(ctx context.Context, h *netlink.Handle) (*Result, error) {
	var b backoff
	for round := 1; ; round++ {
		res, err := o.round(ctx, h)
		if err == nil {
			return res, nil
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return nil, fatal.err
		}
		wait := b.next(o.MaxBackoff)
		o.Log.Warn("netinit: no uplink yet", "round", round, "why", err.Error(), "retry_in", wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("no uplink after %d rounds: %w", round, err)
		}
	}
}

// fatalError marks an error that retrying cannot fix.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }

// waitGateway checks that the default gateway answers on zos (see gatewayAnswers)
// until it does, saying why each failed round failed.
func (o *Options) waitGateway(ctx context.Context, h *netlink.Handle, gw netip.Addr) error {
	var b backoff
	for round := 1; ; round++ {
		err := o.gatewayAnswers(ctx, h, gw)
		if err == nil {
			o.Log.Info("online: default gateway answers", "gateway", gw, "round", round)
			return nil
		}
		wait := b.next(o.MaxBackoff)
		o.Log.Warn("netinit: no connectivity yet", "round", round, "why", err.Error(), "retry_in", wait)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("no connectivity after %d rounds (%s): %w", round, "default gateway "+gw.String()+" does not answer", err)
		}
	}
}

// backoff doubles from 1 s up to a cap.
type backoff struct{ cur time.Duration }

func (b *backoff) next(limit time.Duration) time.Duration {
	if b.cur == 0 {
		b.cur = time.Second
	} else {
		b.cur = min(b.cur*2, limit)
	}
	return min(b.cur, limit)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
