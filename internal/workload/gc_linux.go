package workload

import (
	"errors"
	"fmt"
	"strings"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// GC removes the workload objects that no workload in want owns: host links shaped
// like ours (IsHostIf: c-/t-/p- and 10 hex digits) and wl- namespaces. It never touches
// another name. It returns what it removed (links and namespaces, for the log). Errors
// are joined: one stuck object does not stop the others.
func (a *Attacher) GC(want []nodeapi.Workload) (removed []string, err error) {
	wantIf, wantNS := map[string]bool{}, map[string]bool{}
	for _, w := range want {
		wantIf[w.HostIf] = true
		if w.PublicIf != "" {
			wantIf[w.PublicIf] = true
		}
		if w.Netns != "" {
			wantNS[w.Netns] = true
		}
	}
	h, err := link.Handle(a.Host)
	if err != nil {
		return nil, fmt.Errorf("gc workloads: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("gc workloads: list links in %s: %w", a.Host.Path(), err)
	}
	var errs []error
	for _, l := range links {
		if n := l.Attrs().Name; IsHostIf(n) && !wantIf[n] {
			if err := h.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("gc workloads: delete link %s: %w", n, err))
				continue
			}
			removed = append(removed, n)
		}
	}
	names, err := netns.List(a.NetnsDir)
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("gc workloads: %w", err))...)
	}
	for _, n := range names {
		if strings.HasPrefix(n, NetnsPrefix) && !wantNS[n] {
			if err := netns.Delete(a.NetnsDir, n); err != nil {
				errs = append(errs, fmt.Errorf("gc workloads: %w", err))
				continue
			}
			removed = append(removed, "netns "+n)
		}
	}
	return removed, errors.Join(errs...)
}
