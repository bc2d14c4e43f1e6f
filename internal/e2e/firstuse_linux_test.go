package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/labcli"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// TestFirstUse is issue 19 as a first-time user meets it, in a booted default farm: a
// network with a long name; a workload added on a node by the network's name; the
// device file written under its default name, which Debian's wg-quick brings up
// (userspace, wireguard-go), and the device pings the workload over IPv4 and IPv6; then
// the lab's own commands: the CA in `zoslab status`, `zoslab profile` for a second
// user, and `zoslab service restart|stop|start` of a node's networkd and the registry.
func TestFirstUse(t *testing.T) {
	m := upMesh(t)
	ctx := context.Background()
	labName := m.Lab.Name()
	members := []string{"farm1", "farm2", "home1"}
	n, err := m.CreateNetwork(ctx, "production", "10.120.0.0/16", members)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitUp(ctx, n.ID, len(members), 90*time.Second); err != nil {
		t.Fatalf("network %s did not come up: %v", n.ID, err)
	}
	var w nodeapi.Workload
	err = scenario.Poll(ctx, 30*time.Second, func() error { // provisiond records the name in the NR
		out, err := m.Run(ctx, "home1", m.ZosnetPath(), "node", "workload", "add", "production", "w1", "--json")
		if err == nil {
			err = json.Unmarshal(out, &w)
		}
		return err
	})
	if err != nil || w.NetworkID != n.ID || w.Netns != "wl-w1" {
		t.Fatalf("workload add by network name: %+v %v", w, err)
	}

	t.Run("default device file comes up with wg-quick, IPv4 and IPv6", func(t *testing.T) {
		dir := filepath.Join(lab.StateRoot, labName, "firstuse")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		device := labName // unique per lab: the interface name (and its UAPI socket) follows the file
		out, err := m.Run(ctx, lab.UserHost, "sh", "-c", `cd "$1" && exec "$2" network access add production --device "$3" --json`,
			"sh", dir, m.ZosnetPath(), device)
		var res struct {
			File     string
			Address  netip.Addr
			Address6 netip.Addr
		}
		if err != nil || json.Unmarshal(out, &res) != nil {
			t.Fatalf("access add: %v %s", err, out)
		}
		if err := wgquick.CheckFileName(res.File); err != nil || filepath.Dir(res.File) != dir || !res.Address6.Is6() {
			t.Fatalf("default file %q (%v), addresses %s %s", res.File, err, res.Address, res.Address6)
		}
		iface := strings.TrimSuffix(filepath.Base(res.File), ".conf")
		wgEnv := []string{"env", "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1"}
		if out, err := m.Run(ctx, lab.UserHost, append(wgEnv, "wg-quick", "up", res.File)...); err != nil {
			t.Fatalf("wg-quick up %s: %v %s", res.File, err, out)
		}
		t.Cleanup(func() {
			m.Run(ctx, lab.UserHost, "wg-quick", "down", res.File)
			os.Remove("/run/wireguard/" + iface + ".sock")
		})
		for _, to := range []netip.Addr{w.IPv4.Addr(), w.IPv6.Addr()} {
			if err := scenario.Poll(ctx, 30*time.Second, func() error { return m.DevicePing(ctx, to, 3) }); err != nil {
				t.Errorf("device %s → workload %s: %v", device, to, err)
			}
		}
	})

	t.Run("zoslab status shows the CA, profile makes a second user", func(t *testing.T) {
		out := zoslab(t, "status", "--name", labName)
		ca := filepath.Join(lab.StateRoot, labName, "zosnet", "ca.crt")
		if !strings.Contains(out, "lab CA "+ca) {
			t.Errorf("status does not name the CA %s:\n%s", ca, out)
		}
		zoslab(t, "profile", "user2", "--name", labName)
		if out, err := m.Run(ctx, lab.UserHost, m.ZosnetPath(), "network", "list", "--profile", "user2", "--json"); err != nil {
			t.Errorf("zosnet as user2: %v %s", err, out)
		}
	})

	t.Run("zoslab service restart networkd, stop and start the registry", func(t *testing.T) {
		before := m.Lab.ServicePIDs("home1", "networkd")
		zoslab(t, "service", "restart", "home1", "networkd", "--name", labName)
		after := m.Lab.ServicePIDs("home1", "networkd")
		if len(before) != 1 || len(after) != 1 || before[0] == after[0] {
			t.Fatalf("networkd pids before %v, after %v: want one, a new one", before, after)
		}
		err := scenario.Poll(ctx, 30*time.Second, func() error {
			_, err := m.Run(ctx, "home1", m.ZosnetPath(), "node", "workload", "list")
			return err
		})
		if err != nil {
			t.Errorf("networkd after restart: %v", err)
		}
		zoslab(t, "service", "stop", "registry", "--name", labName)
		if pids := m.Lab.ServicePIDs(lab.Registry, "registry"); len(pids) != 0 {
			t.Fatalf("registry still runs: %v", pids)
		}
		if err := m.Zosnet(ctx, nil, "network", "list"); err == nil {
			t.Error("zosnet reached a stopped registry")
		}
		zoslab(t, "service", "start", "registry", "--name", labName)
		if err := scenario.Poll(ctx, 30*time.Second, func() error { return m.Zosnet(ctx, nil, "network", "list") }); err != nil {
			t.Errorf("registry after start: %v", err)
		}
		if code, out := zoslabCode("service", "start", "home1", "nosuch", "--name", labName); code != 1 || !strings.Contains(out, "does not run") {
			t.Errorf("start of an unknown service: %d %s", code, out)
		}
	})
}

// zoslab runs the zoslab command line in-process and returns its output; it must succeed.
func zoslab(t *testing.T, args ...string) string {
	t.Helper()
	code, out := zoslabCode(args...)
	if code != 0 {
		t.Fatalf("zoslab %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	return out
}

func zoslabCode(args ...string) (int, string) {
	var out bytes.Buffer
	code := labcli.Main(slices.Clone(args), &out, &out)
	return code, fmt.Sprint(out.String())
}
