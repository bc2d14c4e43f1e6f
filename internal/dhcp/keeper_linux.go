package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// discoverRound is how long one discovery round lasts before the keeper logs that it
// still has no lease and starts the next.
const discoverRound = 10 * time.Second

// Keeper holds a DHCPv4 lease on one link for as long as its context lives: it renews
// at T1 (from the granting server), rebinds at T2 (from any server), and rediscovers
// after a NAK, after expiry and when the carrier comes back after a loss (the node may
// have been moved to another LAN). Each applied lease replaces the previous address and
// default route. Fields must be set before Run and not changed after.
type Keeper struct {
	// NS is the namespace the link is in; nil means the caller's.
	NS *netns.NS
	// Iface is the link's name (netinit: the zos bridge).
	Iface string
	// ResolvConf is where name servers are written; "" leaves resolv.conf alone.
	ResolvConf string
	// Log gets one line per event and per failed round.
	Log *slog.Logger
	// OnLease, when set, is called with every lease once it is applied.
	OnLease func(*Lease)
}

// Run keeps a lease until ctx ends, starting from initial (already applied, or nil to
// discover first). It returns ctx's error, or an error when the link or the socket
// cannot be used at all.
func (k *Keeper) Run(ctx context.Context, initial *Lease) error {
	h, err := k.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(k.Iface)
	if err != nil {
		return fmt.Errorf("dhcp keeper: link %s: %w", k.Iface, err)
	}
	c, err := Open(k.NS, k.Iface, k.Log)
	if err != nil {
		return err
	}
	defer c.Close()
	events, err := k.watchCarrier(ctx)
	if err != nil {
		return err
	}
	return k.loop(ctx, h, link, c, initial, events)
}

func (k *Keeper) loop(ctx context.Context, h *netlink.Handle, link netlink.Link, c *Client, l *Lease, events <-chan bool) error {
	var applied *Config
	if l != nil {
		cfg := ConfigOf(l, time.Now())
		applied = &cfg
	}
	for ctx.Err() == nil {
		if l == nil || !time.Now().Before(l.Expiry()) {
			if applied != nil {
				k.Log.Warn("dhcp lease lost, removing it", "iface", k.Iface, "addr", applied.Addr)
				if err := Remove(h, link, *applied); err != nil {
					k.Log.Error("dhcp remove lease", "iface", k.Iface, "err", err)
				}
				applied = nil
			}
			if l = k.discover(ctx, c, time.Time{}); l == nil {
				break
			}
		}
		cfg := ConfigOf(l, time.Now())
		if err := k.apply(h, link, cfg, applied, l); err != nil {
			k.Log.Error("dhcp apply lease failed, rediscovering in 1 s", "iface", k.Iface, "err", err)
			applied, l = &cfg, nil // removed (what is there of it) before the next lease
			sleepCtx(ctx, time.Second)
			continue
		}
		applied = &cfg
		next, again := k.hold(ctx, c, l, events)
		if again {
			next = k.discover(ctx, c, l.Expiry())
			if next == nil {
				next = l // keep the old lease until it expires
			}
		}
		l = next
	}
	return ctx.Err()
}

func (k *Keeper) apply(h *netlink.Handle, link netlink.Link, cfg Config, old *Config, l *Lease) error {
	if err := Apply(h, link, cfg, old); err != nil {
		return err
	}
	if err := WriteResolvConf(k.ResolvConf, cfg.DNS); err != nil {
		return err
	}
	k.Log.Info("dhcp lease applied", "iface", k.Iface, "lease", l.String(), "t1", l.T1, "t2", l.T2)
	if k.OnLease != nil {
		k.OnLease(l)
	}
	return nil
}

// discover tries until it gets a lease, ctx ends (nil) or, when deadline is set, the
// deadline passes (nil). It logs one line per failed round.
func (k *Keeper) discover(ctx context.Context, c *Client, deadline time.Time) *Lease {
	for round := 1; ctx.Err() == nil; round++ {
		end := time.Now().Add(discoverRound)
		if !deadline.IsZero() && deadline.Before(end) {
			end = deadline
		}
		rctx, cancel := context.WithDeadline(ctx, end)
		l, err := c.Discover(rctx)
		cancel()
		if err == nil {
			return l
		}
		if ctx.Err() == nil {
			k.Log.Warn("dhcp: no lease yet", "iface", k.Iface, "round", round, "err", err)
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return nil
		}
	}
	return nil
}

// hold waits for T1, then renews until T2, then rebinds until expiry. It returns the
// extended lease; nil when the lease is lost (NAK, expiry); again=true when the carrier
// came back after a loss and discovery must run.
func (k *Keeper) hold(ctx context.Context, c *Client, l *Lease, events <-chan bool) (next *Lease, again bool) {
	down := false
	for ctx.Err() == nil {
		now := time.Now()
		var wait time.Duration
		rebind := false
		switch {
		case !now.Before(l.Expiry()):
			return nil, false
		case !now.Before(l.Acquired.Add(l.T2)):
			rebind, wait = true, retryWait(l.Expiry().Sub(now))
		case !now.Before(l.Acquired.Add(l.T1)):
			wait = retryWait(l.Acquired.Add(l.T2).Sub(now))
		default:
			t := time.NewTimer(l.Acquired.Add(l.T1).Sub(now))
			select {
			case <-ctx.Done():
			case <-t.C:
			case up := <-events:
				if carrierChanged(k, up, &down) {
					t.Stop()
					return l, true
				}
			}
			t.Stop()
			continue
		}
		nl, err := c.Renew(ctx, l, rebind, wait)
		switch {
		case err == nil:
			return nl, false
		case errors.Is(err, ErrNak):
			k.Log.Warn("dhcp renew refused, rediscovering", "iface", k.Iface, "err", err)
			return nil, false
		case ctx.Err() == nil:
			k.Log.Warn("dhcp renew failed", "iface", k.Iface, "rebinding", rebind, "expires", l.Expiry().Format(time.RFC3339), "err", err)
		}
	}
	return nil, false
}

// carrierChanged records a carrier event and reports whether it is a return after loss.
func carrierChanged(k *Keeper, up bool, down *bool) bool {
	if !up {
		if !*down {
			k.Log.Warn("dhcp: carrier lost", "iface", k.Iface)
		}
		*down = true
		return false
	}
	if *down {
		k.Log.Info("dhcp: carrier back, rediscovering", "iface", k.Iface)
		return true
	}
	return false
}

// retryWait is RFC 2131's retransmission in RENEWING/REBINDING: half the time left
// until the next state, at least one second and at most a minute, but never past the
// next state (T2, expiry) so that rebinding starts on time.
func retryWait(left time.Duration) time.Duration {
	return max(min(max(left/2, time.Second), time.Minute, left), 100*time.Millisecond)
}

func (k *Keeper) handle() (*netlink.Handle, error) {
	h, err := link.Handle(k.NS)
	if err != nil {
		return nil, fmt.Errorf("dhcp keeper: %w", err)
	}
	return h, nil
}

// watchCarrier sends the carrier state of k.Iface on every link update until ctx ends.
func (k *Keeper) watchCarrier(ctx context.Context) (<-chan bool, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(err error) {
		if ctx.Err() == nil {
			k.Log.Error("dhcp: link updates", "iface", k.Iface, "err", err)
		}
	}}
	if k.NS != nil {
		h := vnetns.NsHandle(k.NS.Fd())
		opts.Namespace = &h
	}
	if err := netlink.LinkSubscribeWithOptions(updates, ctx.Done(), opts); err != nil {
		return nil, fmt.Errorf("dhcp keeper: subscribe to link updates: %w", err)
	}
	out := make(chan bool, 16)
	go func() {
		for u := range updates {
			k.Log.Debug("dhcp: link update", "link", u.Attrs().Name, "flags", u.IfInfomsg.Flags)
			if u.Attrs() == nil || u.Attrs().Name != k.Iface {
				continue
			}
			select {
			case out <- u.IfInfomsg.Flags&unix.IFF_LOWER_UP != 0:
			default: // full: the loop is busy; later events carry the state again
			}
		}
	}()
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
