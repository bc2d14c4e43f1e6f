package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/guest"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/provision"
	"github.com/zosnet/zosnet/internal/workload"
)

// guestRun is one boot of the workload guest: its markers with the wall-clock time
// since qemu started, and its console.
type guestRun struct {
	marks   []guest.Marker
	at      []time.Duration
	console string
}

func (r guestRun) find(name, value string) (guest.Marker, time.Duration, bool) {
	for i, m := range r.marks {
		if m.Name == name && (value == "" || strings.HasPrefix(m.Value, value)) {
			return m, r.at[i], true
		}
	}
	return guest.Marker{}, 0, false
}

// bootGuest boots the guest on tap (with mac) in node under qemu, pinging targets,
// and waits until it powers off or the deadline passes (qemu is killed then).
func bootGuest(ctx context.Context, m *scenario.Mesh, f guest.Files, node, tap, mac string, deadline time.Duration, targets ...netip.Addr) (guestRun, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	cmd, err := m.Lab.Command(ctx, node, append([]string{"qemu-system-x86_64"}, guest.QemuArgs(f, tap, mac, targets...)...)...)
	if err != nil {
		return guestRun{}, err
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		return guestRun{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return guestRun{}, err
	}
	var r guestRun
	var con strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		con.WriteString(sc.Text() + "\n")
		if mk, ok := guest.ParseMarker(sc.Text()); ok {
			r.marks, r.at = append(r.marks, mk), append(r.at, time.Since(start))
		}
	}
	err = cmd.Wait()
	r.console = con.String()
	if ctx.Err() != nil {
		return r, fmt.Errorf("guest did not power off within %s", deadline)
	}
	if err != nil {
		return r, fmt.Errorf("qemu (after %s): %w: %s", since(start), err, errb.String())
	}
	return r, nil
}

// TestVMWorkloadGuest boots a real Linux guest (Debian's kernel, busybox, qemu TCG) on
// a tap workload deployed through the grid on farm1: it takes its IPv4 by DHCP (the
// address, gateway and MTU the node reported) and its IPv6 by SLAAC (the address the
// node reported) from its NR, and pings a container workload on hidden home1 over the
// mesh on both; then it powers off.
func TestVMWorkloadGuest(t *testing.T) {
	f, err := guest.Build(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := upMesh(t)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(lab.StateRoot, m.Lab.Name(), "nodes", "farm1", "state", "log", "networkd.log"))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("farm1's networkd.log (tail):\n%s", b)
		}
	})
	ctx := context.Background()
	nodes := []string{"farm1", "home1"}
	n, err := m.CreateNetwork(ctx, "vmnet", "10.130.0.0/16", nodes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second); err != nil {
		t.Fatalf("network %s did not come up: %v", n.ID, err)
	}
	if err := m.Zosnet(ctx, nil, "workload", "add", n.ID, "home1", "target"); err != nil {
		t.Fatal(err)
	}
	if err := m.Zosnet(ctx, nil, "workload", "add", n.ID, "farm1", "vm", "--kind", "vm"); err != nil {
		t.Fatal(err)
	}
	_, target, err := m.GridWorkload(ctx, n.ID, "home1", "target", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, vm, err := m.GridWorkload(ctx, n.ID, "farm1", "vm", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var targets []netip.Addr
	for _, s := range []string{target.Report.IPv4, target.Report.IPv6} {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatalf("target's address %q: %v", s, err)
		}
		targets = append(targets, p.Addr())
	}
	tap := workload.HostIf(nodeapi.WorkloadSpec{Name: provision.LocalName(n.ID, "vm"), NetworkID: n.ID, Kind: nodeapi.KindTap})
	r, err := bootGuest(ctx, m, f, "farm1", tap, vm.Report.MAC, 180*time.Second, targets...)
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, r.console)
	}
	v4 := netip.MustParsePrefix(vm.Report.IPv4)
	gw := v4.Masked().Addr().Next()
	checks := []struct{ name, value string }{
		{guest.MarkDHCP, fmt.Sprintf("%s router=%s mtu=", v4, gw)},
		{guest.MarkIPv6, vm.Report.IPv6},
		{guest.MarkPing, targets[0].String()},
		{guest.MarkPing, targets[1].String()},
		{guest.MarkDone, ""},
	}
	for _, c := range checks {
		if _, _, ok := r.find(c.name, c.value); !ok {
			t.Errorf("the guest did not report %s %q; console:\n%s", c.name, c.value, r.console)
		}
	}
	if t.Failed() {
		return
	}
	_, dhcpAt, _ := r.find(guest.MarkDHCP, "")
	pm, pingAt, _ := r.find(guest.MarkPing, "")
	t.Logf("VM boot → DHCP lease %s, → first ping across the mesh to hidden home1 %s (wall, TCG; guest uptime %.1f s)",
		dhcpAt.Round(10*time.Millisecond), pingAt.Round(10*time.Millisecond), pm.Uptime)
}
