// Package scenario drives the whole zosnet stack in a booted zoslab lab: the user's CLI
// on the `user` host, the registry, and netinit → networkd → provisiond on every node.
// Mesh holds the steps the demo (`zoslab demo`) and the end-to-end tests (internal/e2e)
// share: create a network, attach a workload on each member, ping every pair over the
// overlay, bring an external device in with wg-quick. Every command runs inside a lab
// namespace; nothing is sent from the host's own namespace. It talks to the stack only
// through its commands (zosnet --json, ping, wg-quick), like a user.
package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/plan"
)

// Mesh runs mesh steps in a booted lab. Methods are safe for concurrent use.
type Mesh struct {
	Lab    *lab.Lab
	BinDir string // holds zosnet
}

// Run runs argv in a lab namespace (node, router or host) and returns its stdout; the
// error carries its stderr.
func (m *Mesh) Run(ctx context.Context, where string, argv ...string) ([]byte, error) {
	cmd, err := m.Lab.Command(ctx, where, argv...)
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s: %s: %w: %s", where, strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// Zosnet runs `zosnet --json ARGS` on the user host (the user's profile) and decodes
// its output into v (nil: ignored).
func (m *Mesh) Zosnet(ctx context.Context, v any, args ...string) error {
	out, err := m.Run(ctx, lab.UserHost, append(append([]string{m.ZosnetPath()}, args...), "--json")...)
	if err != nil || v == nil {
		return err
	}
	return json.Unmarshal(out, v)
}

// ZosnetPath is the zosnet binary the mesh runs (in BinDir).
func (m *Mesh) ZosnetPath() string { return filepath.Join(m.BinDir, "zosnet") }

// CreateNetwork creates network name over nodes with the user's key.
func (m *Mesh) CreateNetwork(ctx context.Context, name, rng string, nodes []string) (gridapi.Network, error) {
	var n gridapi.Network
	err := m.Zosnet(ctx, &n, "network", "create", name, "--range", rng, "--nodes", strings.Join(nodes, ","))
	return n, err
}

// Status is `zosnet network status`.
func (m *Mesh) Status(ctx context.Context, network string) (plan.NetworkStatus, error) {
	var st plan.NetworkStatus
	err := m.Zosnet(ctx, &st, "network", "status", network)
	return st, err
}

// WaitUp polls the network's status until every member reports state up (and the plan
// is complete), or timeout.
func (m *Mesh) WaitUp(ctx context.Context, network string, members int, timeout time.Duration) (plan.NetworkStatus, error) {
	var st plan.NetworkStatus
	err := Poll(ctx, timeout, func() error {
		var err error
		if st, err = m.Status(ctx, network); err != nil {
			return err
		}
		if st.PlanError != "" {
			return fmt.Errorf("no plan yet: %s", st.PlanError)
		}
		up := 0
		for _, mb := range st.Members {
			if mb.State == "up" {
				up++
			}
		}
		if up != members || len(st.Members) != members {
			return fmt.Errorf("%d of %d members up", up, members)
		}
		return nil
	})
	return st, err
}

// Workload is a workload attached on a node.
type Workload struct {
	Node string
	nodeapi.Workload
}

// AddWorkloads attaches workload "<network id>-<node>" to the network on each node (in parallel).
func (m *Mesh) AddWorkloads(ctx context.Context, networkID string, nodes []string) ([]Workload, error) {
	return m.addWorkloads(ctx, networkID, nodes, 0)
}

// AddWorkloadsWhenReady is AddWorkloads right after the network was created: each node
// tries again every 200 ms, up to within, until its network resource exists and the
// workload is attached (nodes do not wait for each other).
func (m *Mesh) AddWorkloadsWhenReady(ctx context.Context, networkID string, nodes []string, within time.Duration) ([]Workload, error) {
	return m.addWorkloads(ctx, networkID, nodes, within)
}

func (m *Mesh) addWorkloads(ctx context.Context, networkID string, nodes []string, within time.Duration) ([]Workload, error) {
	out := make([]Workload, len(nodes))
	errs := make([]error, len(nodes))
	deadline := time.Now().Add(within)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b, err := m.Run(ctx, n, m.ZosnetPath(), "node", "workload", "add", networkID, networkID+"-"+n, "--json")
				if err == nil {
					err = json.Unmarshal(b, &out[i].Workload)
				}
				out[i].Node, errs[i] = n, err
				if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Ping pings to from workload w over the overlay: tries packets 200 ms apart, success
// when any answers.
func (m *Mesh) Ping(ctx context.Context, w Workload, to netip.Addr, tries int) error {
	_, err := m.Run(ctx, w.Node, "ip", "netns", "exec", w.Netns, "ping", "-n", "-q", "-c", fmt.Sprint(tries), "-i", "0.2", "-W", "1", to.String())
	return err
}

// pingFirst pings to from workload w until the first answer (echo requests 200 ms
// apart) or for at most within (whole seconds, at least 1): an answering pair costs one
// round trip, not a fixed number of packets.
func (m *Mesh) pingFirst(ctx context.Context, w Workload, to netip.Addr, within time.Duration) error {
	secs := max(1, int((within+time.Second-1)/time.Second))
	_, err := m.Run(ctx, w.Node, "ip", "netns", "exec", w.Netns, "ping", "-n", "-q", "-c", "1", "-i", "0.2", "-w", fmt.Sprint(secs), to.String())
	return err
}

// Device is an external device brought in with wg-quick on the user host.
type Device struct {
	Name, File, Iface string
	Address           netip.Addr
	AccessNode        string
}

// AddDevice adds access device name to the network, writes its wg-quick file into the
// user's config dir and brings it up on the user host with wg-quick and wireguard-go
// (the interface is named after the lab, so two labs never share a UAPI socket).
func (m *Mesh) AddDevice(ctx context.Context, network, name string) (Device, error) {
	d := Device{Name: name, Iface: "wz" + m.Lab.Name()}
	d.File = filepath.Join(lab.StateRoot, m.Lab.Name(), "zosnet", d.Iface+".conf")
	var res struct {
		Address    netip.Addr `json:"address"`
		AccessNode string     `json:"access_node"`
	}
	if err := m.Zosnet(ctx, &res, "network", "access", "add", network, "--device", name, "--out", d.File); err != nil {
		return d, err
	}
	d.Address, d.AccessNode = res.Address, res.AccessNode
	_, err := m.Run(ctx, lab.UserHost, "env", "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
		"wg-quick", "up", d.File)
	return d, err
}

// RemoveDevice takes the device's tunnel down again (wg-quick down), if it is up.
func (m *Mesh) RemoveDevice(ctx context.Context) {
	iface := "wz" + m.Lab.Name()
	m.Run(ctx, lab.UserHost, "wg-quick", "down", filepath.Join(lab.StateRoot, m.Lab.Name(), "zosnet", iface+".conf"))
}

// DevicePing pings to from the user host (through the device's tunnel).
func (m *Mesh) DevicePing(ctx context.Context, to netip.Addr, tries int) error {
	_, err := m.Run(ctx, lab.UserHost, "ping", "-n", "-q", "-c", fmt.Sprint(tries), "-i", "0.2", "-W", "1", to.String())
	return err
}

// Poll calls f every 500 ms until it succeeds or timeout passes (it returns f's last
// error) or ctx ends.
func Poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Names returns the node names of a lab spec in order.
func Names(s *lab.Spec) []string {
	var out []string
	for _, n := range s.Nodes {
		out = append(out, n.Name)
	}
	return slices.Clip(out)
}
