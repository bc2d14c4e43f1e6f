package e2e

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/image/imagetest"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/nodeapi"
)

func TestMain(m *testing.M) {
	code := m.Run()
	imagetest.Cleanup()
	os.Exit(code)
}

// pollErr calls f until it succeeds or timeout passes; it returns f's last error.
func pollErr(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// nodeWireGuard is what `zosnet node status --json` says about the WireGuard backend.
func nodeWireGuard(t testing.TB, m *scenario.Mesh, node string) string {
	t.Helper()
	out, err := m.Run(context.Background(), node, m.ZosnetPath(), "node", "status", "--json")
	if err != nil {
		t.Fatalf("%s: node status: %v", node, err)
	}
	var st struct {
		WireGuard string `json:"wireguard"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("%s: node status: %v: %s", node, err, out)
	}
	return st.WireGuard
}

// nrOf returns node's network resource of network id (key and port), polling until
// networkd answers with it.
func nrOf(t testing.TB, m *scenario.Mesh, node, id string, timeout time.Duration) nodeapi.NR {
	t.Helper()
	var nr nodeapi.NR
	err := pollErr(timeout, func() error {
		out, err := m.Run(context.Background(), node, m.ZosnetPath(), "node", "nr", "show", id, "--json")
		if err != nil {
			return err
		}
		return json.Unmarshal(out, &nr)
	})
	if err != nil {
		t.Fatalf("%s: nr %s: %v", node, id, err)
	}
	return nr
}

// TestVMMixed boots the default farm plus two VM nodes running the node image under
// qemu — vm1 from its EFI disk (a USB stick's image) on OOB and PUBLIC, vm2 by PXE from
// farmgw's dnsmasq on OOB — up to "registered" (lab.Up waits for it). In the VMs
// networkd picks kernel WireGuard by itself, the namespace nodes use wireguard-go, and
// `zosnet node status` names each; one network over all eight nodes (public and
// hidden, kernel and userspace) answers on every pair; a power-cycle of vm1 brings it
// back with the same key and port, and its pairs answer again.
func TestVMMixed(t *testing.T) {
	img, _ := imagetest.Build(t)
	start := time.Now()
	m := upMeshOpts(t, lab.VMSpec(), lab.Options{PublicConfigs: true, ImageDir: img, BootTimeout: 5 * time.Minute})
	t.Logf("lab up, all 8 nodes registered (vm1 by disk, vm2 by PXE) in %s (TCG)", since(start))
	t.Cleanup(func() {
		if t.Failed() {
			for _, vm := range []string{"vm1", "vm2"} {
				b, _ := os.ReadFile(m.Lab.ConsoleLog(vm))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("console of %s (tail):\n%s", vm, b)
			}
		}
	})
	ctx := context.Background()
	for node, want := range map[string]string{"vm1": "kernel", "vm2": "kernel", "farm1": "userspace", "home1": "userspace"} {
		if got := nodeWireGuard(t, m, node); got != want {
			t.Errorf("%s: node status names WireGuard %q, want %q", node, got, want)
		}
	}
	nodes := scenario.Names(m.Lab.Spec())
	n, err := m.CreateNetwork(ctx, "vmx", "10.100.0.0/16", nodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 3*time.Minute); err != nil {
		t.Fatalf("network %s did not come up: %v", n.ID, err)
	}
	ws, err := m.AddWorkloads(ctx, n.ID, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitMatrix(ctx, ws, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d pairs answer %s after create", len(nodes)*(len(nodes)-1), since(start))
	before := nrOf(t, m, "vm1", n.ID, time.Minute)
	if before.Status.WGKind != "kernel" {
		t.Errorf("vm1's NR uses %q, want kernel", before.Status.WGKind)
	}
	rebooted := time.Now()
	if err := m.Lab.Reboot(ctx, "vm1", lab.Options{BinDir: m.BinDir, Boot: true, BootTimeout: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	after := nrOf(t, m, "vm1", n.ID, 3*time.Minute)
	if after.Status.PublicKey != before.Status.PublicKey || after.Status.ListenPort != before.Status.ListenPort {
		t.Errorf("after a power-cycle vm1's NR has key %s port %d, want %s %d", after.Status.PublicKey,
			after.Status.ListenPort, before.Status.PublicKey, before.Status.ListenPort)
	}
	// The workload namespace went with the power-cycle: attach it again, then every
	// pair must answer again.
	again, err := m.AddWorkloads(ctx, n.ID, []string{"vm1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ws {
		if ws[i].Node == "vm1" {
			ws[i] = again[0]
		}
	}
	if _, err := m.WaitMatrix(ctx, ws, 3*time.Minute); err != nil {
		t.Fatalf("after vm1's power-cycle: %v", err)
	}
	t.Logf("vm1 power-cycled: same key and port, all pairs answer again %s after the reboot", since(rebooted))
}
