package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/image/imagetest"
	"github.com/zosnet/zosnet/internal/testkit"
	"github.com/zosnet/zosnet/internal/zinit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	imagetest.Cleanup() // the node image built for the VM tests
	os.Exit(code)
}

// noDHCPSpec is a farm LAN whose DHCP server is off, and one VM node on it.
const noDHCPSpec = `
segments:
  - name: lan
    ipv4: 10.9.0.0/24
    gateway: gw
    dhcp: {enabled: false}
routers:
  - name: gw
    interfaces: [{segment: lan, ipv4: 10.9.0.1/24}]
nodes:
  - name: vm1
    kind: vm
    cmdline: farmer_id=1 zosnet.registry=https://10.9.0.1:8443
    nics: [{segment: lan}]
`

func consoleHas(l *Lab, node, s string) bool {
	b, _ := os.ReadFile(l.ConsoleLog(node))
	return strings.Contains(string(b), s)
}

// TestVMNoDHCP boots the image in a VM node whose LAN has no DHCP server: netinit keeps
// retrying and says why on the console (round after round) while the node's init and
// guest agent run; once the farm's DHCP comes on, netinit takes a lease. Pulling the
// NIC's cable (SetCarrier) shows in the guest. Then a power-cycle boots it again, with
// its state disk (formatted at the first boot) kept.
func TestVMNoDHCP(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	img, _ := imagetest.Build(t)
	s, err := ParseSpec([]byte(noDHCPSpec))
	if err != nil {
		t.Fatal(err)
	}
	l := upLab(t, s, Options{ImageDir: img})
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(l.ConsoleLog("vm1"))
			t.Logf("console of vm1 (tail):\n%s", lastLines(string(b), 40))
		}
	})
	ctx := context.Background()
	wait := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		if err := poll(ctx, d, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait("netinit retrying twice on the console", 4*time.Minute, func() bool {
		return consoleHas(l, "vm1", `"netinit: no uplink yet" round=2`)
	})
	if !consoleHas(l, "vm1", "no DHCP answer") {
		t.Errorf("the console does not say why (no DHCP answer)")
	}
	r, err := l.VMStatus(ctx, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Node != "vm1" || len(r.Services) == 0 || r.Services[0].Name != "netinit" || r.Services[0].State == zinit.StateDone {
		t.Errorf("status %+v: want netinit not done", r)
	}
	if !strings.Contains(r.State, "formatted now") {
		t.Errorf("state dir %q: want the blank disk formatted at first boot", r.State)
	}
	out, err := mustCommand(t, l, "vm1", "cat", "/proc/cmdline")
	if err != nil || !strings.Contains(out, "zosnet.name=vm1") {
		t.Errorf("exec in the VM: %q %v", out, err)
	}
	if err := l.SetDHCP("lan", true, ""); err != nil {
		t.Fatal(err)
	}
	wait("a lease once DHCP is on", 2*time.Minute, func() bool { return consoleHas(l, "vm1", `"uplink chosen" nic=eth0`) })
	for _, up := range []bool{false, true} { // the cable: the guest's NIC sees carrier go and come
		if err := l.SetCarrier("vm1", "eth0", up); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "0", true: "1"}[up]
		wait("carrier "+want+" in the guest", time.Minute, func() bool {
			out, err := mustCommand(t, l, "vm1", "cat", "/sys/class/net/eth0/carrier")
			return err == nil && strings.TrimSpace(out) == want
		})
	}
	if err := l.Reboot(ctx, "vm1", Options{}); err != nil {
		t.Fatal(err)
	}
	wait("the second boot's state disk", 4*time.Minute, func() bool {
		r, err := l.VMStatus(ctx, "vm1")
		return err == nil && strings.Contains(r.State, "existing")
	})
}

func mustCommand(t *testing.T, l *Lab, node string, argv ...string) (string, error) {
	t.Helper()
	cmd, err := l.Command(context.Background(), node, argv...)
	if err != nil {
		return "", err
	}
	b, err := cmd.CombinedOutput()
	return string(b), err
}
