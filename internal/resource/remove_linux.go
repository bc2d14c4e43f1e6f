package resource

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Remove deletes everything of NR id: its WireGuard device, the leg and the bridge in
// the host namespace, and namespace n-<id> (which takes its routes and nftables table
// along). Removing an NR that does not exist is success.
func (a *Applier) Remove(id string) error {
	if err := nodeapi.ValidID(id); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.remove(id)
}

func (a *Applier) remove(id string) error {
	if a.devs != nil {
		a.closeDev(id)
	}
	delete(a.learned, id)
	n := NamesOf(id)
	var errs []error
	h, err := link.Handle(a.Host)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, name := range []string{n.Veth, n.Bridge} {
		errs = append(errs, link.Delete(h, name))
	}
	if err := netns.Delete(a.NetnsDir, n.NS); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove nr %s: %w", id, err)
	}
	return nil
}

// Existing lists the ids of NRs that have any object on this node: an n-<id>
// namespace, a b-<id>/v-<id> link in the host namespace, or a live device.
func (a *Applier) Existing() ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.existing()
}

func (a *Applier) existing() ([]string, error) {
	seen := map[string]bool{}
	for id := range a.devs {
		seen[id] = true
	}
	names, err := netns.List(a.NetnsDir)
	if err != nil {
		return nil, err
	}
	h, err := link.Handle(a.Host)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list host links: %w", err)
	}
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	for _, name := range names {
		for _, p := range []string{"n-", "b-", "v-"} {
			if id, ok := strings.CutPrefix(name, p); ok && nodeapi.ValidID(id) == nil {
				seen[id] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// GC removes every NR that has objects on the node and is not in want. It only ever
// touches objects named as ours (n-, b-, v- + a valid id). Errors are joined: one
// stuck NR does not stop the others.
func (a *Applier) GC(want map[string]bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids, err := a.existing()
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if want[id] {
			continue
		}
		a.log().Info("gc: removing network resource no one wants", "nr", id)
		errs = append(errs, a.remove(id))
	}
	return errors.Join(errs...)
}

// Close stops every userspace WireGuard device (their links go with them), releases
// kernel ones (they keep running) and leaves the rest of the kernel state in place for
// the next start.
func (a *Applier) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, d := range a.devs {
		d.dev.Release()
		d.ns.Close()
		delete(a.devs, id)
	}
}
