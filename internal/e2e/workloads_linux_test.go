package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/lab/scenario"
)

// gridWorkload waits until the node reported workload name of network up and returns
// it as a scenario workload (node, namespace, addresses).
func gridWorkload(ctx context.Context, m *scenario.Mesh, netID, node, name string, timeout time.Duration) (scenario.Workload, error) {
	w, _, err := m.GridWorkload(ctx, netID, node, name, timeout)
	return w, err
}

// hasNetns reports whether a node has namespace ns.
func hasNetns(ctx context.Context, m *scenario.Mesh, node, ns string) (bool, error) {
	out, err := m.Run(ctx, node, "ip", "netns", "list")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == ns {
			return true, nil
		}
	}
	return false, nil
}

// TestWorkloadsGrid: workloads deployed through the registry on a public node (farm1)
// and a hidden one (home1) come up with reported addresses and reach each other over
// the mesh; a member running a workload cannot leave; kill -9 of networkd and
// provisiond during churn, and their restart, leave the running workload untouched and
// converge to the registry's list; removal leaves no namespace behind.
func TestWorkloadsGrid(t *testing.T) {
	m := upMesh(t)
	ctx := context.Background()
	nodes := []string{"farm1", "farm2", "home1"}
	n, err := m.CreateNetwork(ctx, "wl", "10.110.0.0/16", nodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second); err != nil {
		t.Fatalf("network %s did not come up: %v", n.ID, err)
	}
	start := time.Now()
	for _, a := range [][2]string{{"farm1", "web1"}, {"home1", "web2"}} {
		if err := m.Zosnet(ctx, nil, "workload", "add", n.ID, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	web1, err := gridWorkload(ctx, m, n.ID, "farm1", "web1", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	web2, err := gridWorkload(ctx, m, n.ID, "home1", "web2", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reach := func(from, to scenario.Workload, timeout time.Duration) error {
		return scenario.Poll(ctx, timeout, func() error { return m.Ping(ctx, from, to.IPv4.Addr(), 2) })
	}
	if err := reach(web1, web2, 60*time.Second); err != nil {
		t.Fatalf("web1 (farm1) → web2 (home1, hidden): %v", err)
	}
	if err := reach(web2, web1, 30*time.Second); err != nil {
		t.Fatalf("web2 → web1: %v", err)
	}
	t.Logf("workload add → reachable over the mesh (farm1 ↔ hidden home1): %s", since(start))

	var leave gridapi.Network
	if err := m.Zosnet(ctx, &leave, "network", "rm-node", n.ID, "home1"); err == nil || !strings.Contains(err.Error(), "web2") {
		t.Fatalf("home1 left the network with web2 on it: %v", err)
	}

	// churn while farm1's networkd and home1's provisiond are killed
	signalService(t, m.Lab.Name(), "farm1", "networkd", syscall.SIGKILL)
	signalService(t, m.Lab.Name(), "home1", "provisiond", syscall.SIGKILL)
	if err := m.Zosnet(ctx, nil, "workload", "add", n.ID, "farm1", "web3"); err != nil {
		t.Fatal(err)
	}
	if err := m.Zosnet(ctx, nil, "workload", "rm", n.ID, "web2"); err != nil {
		t.Fatal(err)
	}
	if ok, err := hasNetns(ctx, m, "farm1", web1.Netns); err != nil || !ok {
		t.Fatalf("web1's namespace gone while networkd was down: %v %v", ok, err)
	}
	if err := m.Lab.StartService(ctx, "farm1", "networkd"); err != nil {
		t.Fatal(err)
	}
	if err := m.Lab.StartService(ctx, "home1", "provisiond"); err != nil {
		t.Fatal(err)
	}
	web3, err := gridWorkload(ctx, m, n.ID, "farm1", "web3", 90*time.Second)
	if err != nil {
		t.Fatalf("after the restarts: %v", err)
	}
	err = scenario.Poll(ctx, 60*time.Second, func() error {
		if ok, err := hasNetns(ctx, m, "home1", web2.Netns); err != nil || ok {
			return fmt.Errorf("web2's namespace still on home1 (%v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reach(web3, web1, 60*time.Second); err != nil {
		t.Fatalf("web3 → web1 after the restarts: %v", err)
	}
	for _, w := range []string{"web1", "web3"} {
		if err := m.Zosnet(ctx, nil, "workload", "rm", n.ID, w); err != nil {
			t.Fatal(err)
		}
	}
	err = scenario.Poll(ctx, 60*time.Second, func() error {
		for _, ns := range []string{web1.Netns, web3.Netns} {
			if ok, err := hasNetns(ctx, m, "farm1", ns); err != nil || ok {
				return fmt.Errorf("%s still on farm1 (%v)", ns, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Zosnet(ctx, &leave, "network", "rm-node", n.ID, "home1"); err != nil {
		t.Fatalf("home1 leaves once its workloads are gone: %v", err)
	}
}
