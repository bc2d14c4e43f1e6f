package scenario

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/provision"
	"github.com/zosnet/zosnet/internal/workload"
)

// GridWorkload waits until node reported workload name of network netID up and
// returns it as the registry shows it and as a Workload on its node (namespace and
// addresses, for Ping).
func (m *Mesh) GridWorkload(ctx context.Context, netID, node, name string, timeout time.Duration) (Workload, gridapi.Workload, error) {
	var w gridapi.Workload
	err := Poll(ctx, timeout, func() error {
		if err := m.Zosnet(ctx, &w, "workload", "show", netID, name); err != nil {
			return err
		}
		if w.Report == nil || w.Report.State != "up" {
			return fmt.Errorf("workload %s: report %+v", name, w.Report)
		}
		return nil
	})
	if err != nil {
		return Workload{}, w, err
	}
	v4, err := netip.ParsePrefix(w.Report.IPv4)
	if err != nil {
		return Workload{}, w, fmt.Errorf("workload %s: reported ipv4 %q: %w", name, w.Report.IPv4, err)
	}
	local := provision.LocalName(netID, name)
	return Workload{Node: node, Workload: nodeapi.Workload{WorkloadSpec: nodeapi.WorkloadSpec{Name: local, NetworkID: netID},
		IPv4: v4, Netns: workload.NetnsPrefix + local, MAC: w.Report.MAC}}, w, nil
}

// AddGridWorkloads deploys a container workload "w-<node>" on each node through the
// registry (`zosnet workload add`, as the user) and waits until every node reported
// its workload up.
func (m *Mesh) AddGridWorkloads(ctx context.Context, netID string, nodes []string, timeout time.Duration) ([]Workload, error) {
	for _, n := range nodes {
		if err := m.Zosnet(ctx, nil, "workload", "add", netID, n, "w-"+n); err != nil {
			return nil, err
		}
	}
	out := make([]Workload, len(nodes))
	for i, n := range nodes {
		w, _, err := m.GridWorkload(ctx, netID, n, "w-"+n, timeout)
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

// ServeTCP runs a TCP service on port in a lab place (inside namespace inNS when set)
// that answers every connection with banner (busybox nc). stop ends it; the lab's
// teardown ends it too.
func (m *Mesh) ServeTCP(where, inNS string, port int, banner string) (stop func(), err error) {
	argv := []string{"busybox", "nc", "-ll", "-p", fmt.Sprint(port), "-e", "/bin/echo", banner}
	if inNS != "" {
		argv = append([]string{"ip", "netns", "exec", inNS}, argv...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := m.Lab.Command(ctx, where, argv...)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: serve tcp %d: %w", where, port, err)
	}
	return func() { cancel(); cmd.Wait() }, nil
}

// DialTCP connects from a lab place (inside namespace inNS when set) to addr:port and
// returns what the service said; an error when nothing answered within 2 s.
func (m *Mesh) DialTCP(ctx context.Context, where, inNS string, addr netip.Addr, port int) (string, error) {
	argv := []string{"timeout", "5", "busybox", "nc", "-w", "2", addr.String(), fmt.Sprint(port)}
	if inNS != "" {
		argv = append([]string{"ip", "netns", "exec", inNS}, argv...)
	}
	out, err := m.Run(ctx, where, argv...)
	return strings.TrimSpace(string(out)), err
}
