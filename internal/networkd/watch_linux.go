package networkd

import (
	"context"
	"errors"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// errClosed: the kernel closed a netlink subscription.
var errClosed = errors.New("netlink subscription closed")

// egressSettle is how long the underlay watcher waits after the last address or route
// event before it re-learns (a new lease or an RA comes as a burst of events).
const egressSettle = 200 * time.Millisecond

// watchUnderlay follows the host namespace's addresses and routes (netlink
// subscriptions) and, once a burst of changes settles, has the egress rule re-learn
// the underlay: a new lease, a new RA prefix or a changed route reaches ndmz's deny
// sets within a fraction of a second, without a restart. A lost subscription is made
// again after a second; the periodic resync re-learns too. It returns when ctx ends.
func (d *Daemon) watchUnderlay(ctx context.Context) {
	for ctx.Err() == nil {
		if err := d.watchOnce(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("egress: underlay watch lost; again in 1s", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *Daemon) watchOnce(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	ns := vnetns.NsHandle(d.rec.host.Fd())
	errc := make(chan error, 2)
	onErr := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	addrs := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		return err
	}
	routes := make(chan netlink.RouteUpdate, 64)
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}); err != nil {
		return err
	}
	d.refreshEgress() // whatever changed before the subscriptions
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case _, ok := <-addrs:
			if !ok {
				return errClosed
			}
			settle.Reset(egressSettle)
		case _, ok := <-routes:
			if !ok {
				return errClosed
			}
			settle.Reset(egressSettle)
		case <-settle.C:
			d.refreshEgress()
		}
	}
}

// refreshEgress re-learns the underlay under the daemon's lock and logs a change.
func (d *Daemon) refreshEgress() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	changed, err := d.rec.refreshEgress()
	switch {
	case err != nil:
		d.log.Warn("egress: re-learn the underlay", "err", err)
	case changed:
		d.met.egressUpdates.Inc()
	}
}
