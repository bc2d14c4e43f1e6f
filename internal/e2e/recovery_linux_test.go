package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

// recoveryNet is a booted default farm with one network over all six nodes and a
// workload on each, every pair answering.
type recoveryNet struct {
	m     *scenario.Mesh
	id    string
	nodes []string
	ws    []scenario.Workload
}

func upRecoveryNet(t testing.TB) *recoveryNet {
	t.Helper()
	m := upMesh(t)
	ctx := context.Background()
	r := &recoveryNet{m: m, nodes: scenario.Names(lab.DefaultSpec())}
	n, err := m.CreateNetwork(ctx, "rec", "10.120.0.0/16", r.nodes)
	if err != nil {
		t.Fatal(err)
	}
	r.id = n.ID
	if _, err := m.WaitUp(ctx, n.ID, len(r.nodes), 90*time.Second); err != nil {
		t.Fatalf("network did not come up: %v", err)
	}
	if r.ws, err = m.AddWorkloads(ctx, n.ID, r.nodes); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitMatrix(ctx, r.ws, 120*time.Second); err != nil {
		t.Fatal(err)
	}
	return r
}

// nr reads a node's NR of the network from its networkd.
func (r *recoveryNet) nr(ctx context.Context, node string) (nodeapi.NR, error) {
	var nr nodeapi.NR
	out, err := r.m.Run(ctx, node, r.m.ZosnetPath(), "node", "nr", "show", r.id, "--json")
	if err != nil {
		return nr, fmt.Errorf("%s: nr show: %v: %s", node, err, out)
	}
	return nr, json.Unmarshal(out, &nr)
}

// nodeStatus reads `zosnet node status --json` on node.
func (r *recoveryNet) nodeStatus(ctx context.Context, node string) (nodeapi.NodeStatus, error) {
	var st nodeapi.NodeStatus
	out, err := r.m.Run(ctx, node, r.m.ZosnetPath(), "node", "status", "--json")
	if err != nil {
		return st, fmt.Errorf("%s: node status: %v: %s", node, err, out)
	}
	return st, json.Unmarshal(out, &st)
}

// reboot power-cycles node and boots it again (netinit returns once the node has its
// lease and its gateway answers), then measures until every pair answers. It checks the
// NR came back with the same key and port, and returns the time from netinit's end to
// all pairs answering.
func (r *recoveryNet) reboot(t testing.TB, node string) time.Duration {
	t.Helper()
	ctx := context.Background()
	before, err := r.nr(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.m.Lab.Reboot(ctx, node, lab.Options{BinDir: r.m.BinDir, Boot: true}); err != nil {
		t.Fatalf("reboot %s: %v", node, err)
	}
	online := time.Now() // netinit has exited 0: lease with a gateway that answers
	if _, err := r.m.WaitMatrix(ctx, r.ws, 90*time.Second); err != nil {
		t.Fatalf("after rebooting %s: %v", node, err)
	}
	took := time.Since(online)
	after, err := r.nr(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status.PublicKey != before.Status.PublicKey || after.Status.ListenPort != before.Status.ListenPort {
		t.Errorf("%s's NR came back with key %s port %d, want %s %d", node, after.Status.PublicKey, after.Status.ListenPort,
			before.Status.PublicKey, before.Status.ListenPort)
	}
	return took
}

// TestRecovery: issue 18's lab tests on one booted default farm. Reboots with the
// registry up and down (a public node and a hidden one): the NRs come back from the
// node's own disk with the same keys and ports and every pair answers; with the
// registry back the node registers and reports without a restart; after a registry
// outage, a change reaches every member. Times are logged (targets are in
// BenchmarkRecovery), not asserted.
func TestRecovery(t *testing.T) {
	r := upRecoveryNet(t)
	ctx := context.Background()

	t.Run("reboot with the registry up", func(t *testing.T) {
		t.Logf("farm1: all pairs answer %v after netinit's lease", r.reboot(t, "farm1").Round(10*time.Millisecond))
	})

	t.Run("reboot with the registry down", func(t *testing.T) {
		if err := r.m.Lab.StopService(ctx, lab.Registry, "registry", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, node := range []string{"farm1", "home1"} {
			t.Logf("%s (registry down): all pairs answer %v after netinit's lease", node, r.reboot(t, node).Round(10*time.Millisecond))
			st, err := r.nodeStatus(ctx, node)
			if err != nil {
				t.Fatal(err)
			}
			if st.Restored == nil || len(st.Restored.NRs) != 1 || st.Restored.NRs[0] != r.id || st.Restored.Workloads != 1 {
				t.Errorf("%s: restored %+v, want NR %s and its workload", node, st.Restored, r.id)
			}
			if err := scenario.Poll(ctx, 30*time.Second, func() error {
				st, err := r.nodeStatus(ctx, node)
				if err == nil && (st.Registry == nil || st.Registry.Connected || st.Registry.LastError == "") {
					err = fmt.Errorf("registry status %+v, want retrying with the last error", st.Registry)
				}
				return err
			}); err != nil {
				t.Errorf("%s: %v", node, err)
			}
		}
		if err := startRegistry(ctx, r.m); err != nil {
			t.Fatal(err)
		}
		// the rebooted nodes register and report without a restart
		for _, node := range []string{"farm1", "home1"} {
			if err := scenario.Poll(ctx, 30*time.Second, func() error {
				st, err := r.nodeStatus(ctx, node)
				if err == nil && (st.Registry == nil || !st.Registry.Connected || st.Registry.NodeID == 0) {
					err = fmt.Errorf("registry status %+v, want connected and registered", st.Registry)
				}
				return err
			}); err != nil {
				t.Errorf("%s after the registry returned: %v", node, err)
			}
		}
		if _, err := r.m.WaitUp(ctx, r.id, len(r.nodes), 30*time.Second); err != nil {
			t.Errorf("reports after the registry returned: %v", err)
		}
	})

	t.Run("a change right after a registry outage", func(t *testing.T) {
		outage := 60 * time.Second
		if testing.Short() {
			outage = 10 * time.Second
		}
		took := changeAfterOutage(t, r, outage, "farm3")
		t.Logf("registry back after %v: farm3's removal reached every member in %v", outage, took.Round(10*time.Millisecond))
	})
}

// changeAfterOutage stops the registry for outage, starts it, removes member from the
// network at once and returns the time until every member's networkd reflects it (the
// member's NR gone, no peer of it on the others); the member is added back after.
func changeAfterOutage(t testing.TB, r *recoveryNet, outage time.Duration, member string) time.Duration {
	t.Helper()
	ctx := context.Background()
	before, err := r.nr(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.m.Lab.StopService(ctx, lab.Registry, "registry", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outage) // the scenario: the registry is away this long (nodes back off meanwhile)
	if err := startRegistry(ctx, r.m); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := r.m.Zosnet(ctx, nil, "network", "remove-node", r.id, member); err != nil {
		t.Fatal(err)
	}
	err = scenario.Poll(ctx, 60*time.Second, func() error {
		for _, node := range r.nodes {
			nr, err := r.nr(ctx, node)
			if node == member {
				if err == nil {
					return fmt.Errorf("%s still has its NR", node)
				}
				continue
			}
			if err != nil {
				return err
			}
			for _, p := range nr.Spec.Peers {
				if p.PublicKey == before.Status.PublicKey {
					return fmt.Errorf("%s still has %s as a peer", node, member)
				}
			}
		}
		return nil
	})
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("after the registry returned: %v", err)
	}
	if err := r.m.Zosnet(ctx, nil, "network", "add-node", r.id, member); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.WaitUp(ctx, r.id, len(r.nodes), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	w, err := r.m.AddWorkloads(ctx, r.id, []string{member}) // its workload went with its NR
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.ws {
		if r.ws[i].Node == member {
			r.ws[i] = w[0]
		}
	}
	return took
}

// startRegistry starts the lab's registry again and waits until it answers (the
// service API waits for the process only).
func startRegistry(ctx context.Context, m *scenario.Mesh) error {
	if err := m.Lab.StartService(ctx, lab.Registry, "registry"); err != nil {
		return err
	}
	return scenario.Poll(ctx, 30*time.Second, func() error { return m.Zosnet(ctx, nil, "farm", "list") })
}
