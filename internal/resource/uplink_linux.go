package resource

import (
	"errors"
	"sort"

	"github.com/zosnet/zosnet/internal/netns"
)

// SetSockNS moves the WireGuard UDP sockets of every live NR to ns (issue 5: the
// `public` namespace appears or goes away without a reboot). Each device is closed and
// recreated from its last applied spec and key with the sockets opened in ns; the NR's
// namespace, bridge, workloads and port stay. Peers with a keepalive handshake again
// at once, so peers that only know the old endpoint learn the new one (roaming).
// Errors are joined: one NR failing does not stop the others (retried on resync).
func (a *Applier) SetSockNS(ns *netns.NS) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.SockNS = ns
	ids := make([]string, 0, len(a.devs))
	for id := range a.devs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		d := a.devs[id]
		s, key := d.spec, d.key
		a.closeDev(id)
		errs = append(errs, a.apply(s, key, NamesOf(id)))
	}
	return errors.Join(errs...)
}

// SockNSPath returns the path of the current socket namespace.
func (a *Applier) SockNSPath() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.SockNS.Path()
}
