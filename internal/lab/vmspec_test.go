package lab

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/testkit"
)

const vmSpec = miniSpec + `
  - name: vm1
    kind: vm
    vm: {boot: pxe, memory: 512}
    cmdline: farmer_id=7 zosnet.registry=https://198.51.100.10:8443
    nics: [{segment: lan}, {segment: wan}]
`

func TestVMSpecDefaultsAndErrors(t *testing.T) {
	s, err := ParseSpec([]byte(vmSpec))
	if err != nil {
		t.Fatal(err)
	}
	n := s.node("vm1")
	if !n.IsVM() || n.VM.Boot != BootPXE || n.VM.Memory != 512 || n.VM.CPUs != 1 || n.VM.StateMiB != 128 || n.NICs[0].MAC != "02:5a:4c:00:02:00" {
		t.Errorf("vm1: %+v %+v", n, n.VM)
	}
	if s.node("n1").Kind != KindNetns || s.Kind("vm1") != KindVM || s.Kind("nope") != "" {
		t.Errorf("kinds")
	}
	if !n.runsProvisiond() || !s.pxeSegments()["lan"] || s.pxeSegments()["wan"] {
		t.Errorf("provisiond %v, pxe segments %v", n.runsProvisiond(), s.pxeSegments())
	}
	for _, tc := range []struct{ node, err string }{
		{"kind: vm\n    boot: [netinit]", "nodes[1].boot: a vm node runs the image's services"},
		{"kind: container", `nodes[1].kind: "container": want netns or vm`},
		{"kind: vm\n    vm: {boot: usb}", `nodes[1].vm.boot: "usb": want kernel, disk or pxe`},
		{"kind: vm\n    vm: {memory: 64}", "nodes[1].vm.memory: 64 MiB: want 256 to 8192"},
		{"kind: vm\n    vm: {cpus: 9}", "nodes[1].vm.cpus: 9: want 1 to 8"},
		{"kind: vm\n    vm: {state_mib: 1}", "nodes[1].vm.state_mib: 1: want 16 to 16384"},
		{"kind: vm\n    vm: {boot: pxe}\n    nics: [{segment: wan}]", `nodes[1].vm.boot: pxe needs DHCP on the first NIC's segment "wan"`},
		{"kind: vm\n    cmdline: zosnet.services=sshd", `nodes[1].cmdline: zosnet.services="sshd"`},
		{"kind: netns\n    vm: {boot: disk}", "nodes[1].vm: only for kind: vm"},
		{"kind: vm\n    nics: []", "nodes[1].nics: a vm node needs at least one NIC"},
	} {
		y := miniSpec + "\n  - name: vm1\n    " + tc.node + "\n"
		if !strings.Contains(tc.node, "nics:") {
			y += "    nics: [{segment: lan}]\n"
		}
		_, err := ParseSpec([]byte(y))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err %v, want %q", tc.node, err, tc.err)
		}
	}
}

func TestVMCmdline(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"farmer_id=1", "console=ttyS0,115200 farmer_id=1 zosnet.name=vm1"},
		{"console=tty0 farmer_id=1 zosnet.name=other", "console=tty0 farmer_id=1 zosnet.name=other"},
		{"", "console=ttyS0,115200 zosnet.name=vm1"},
	} {
		if got := VMCmdline(&Node{Name: "vm1", Cmdline: tc.in}); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got) // -update rewrites it
}

// TestQemuArgs: qemu's command line for each boot method (golden files): TCG, the
// NICs as taps on inherited fds with their MACs (only a PXE node's first NIC keeps its
// iPXE ROM), the state disk, the agent port, fw_cfg files, and the boot source.
func TestQemuArgs(t *testing.T) {
	s, err := ParseSpec([]byte(vmSpec))
	if err != nil {
		t.Fatal(err)
	}
	n := s.node("vm1")
	f := VMFiles{Kernel: "/img/vmlinuz", Initramfs: "/img/initrd.img", BootDisk: "/n/boot.img", Firmware: "/fw/OVMF.fd",
		StateDisk: "/n/state.img", Console: "/n/console.log", AgentSock: "/n/agent-qemu.sock", QMPSock: "/n/qmp.sock",
		FwCfg: map[string]string{"registry-ca.crt": "/n/state/registry-ca.crt", "a": "/n/state/a"}}
	for _, boot := range []string{BootKernel, BootDisk, BootPXE} {
		n.VM.Boot = boot
		golden(t, "qemu-"+boot+".txt", strings.Join(QemuArgs("lab1", n, f, 3, []int{1500, 1400}), "\n")+"\n")
	}
}

func TestPXEScripts(t *testing.T) {
	n := &Node{Name: "vm2", Cmdline: "farmer_id=1", NICs: []NIC{{MAC: "02:5A:4C:00:08:00"}}}
	if got := PXEScriptName(n.NICs[0].MAC); got != "02-5a-4c-00-08-00.ipxe" {
		t.Errorf("script name %q", got)
	}
	want := "#!ipxe\nkernel /vmlinuz initrd=initrd.img console=ttyS0,115200 farmer_id=1 zosnet.name=vm2\ninitrd /initrd.img\nboot\n"
	if got := PXENodeScript(n); got != want {
		t.Errorf("node script %q", got)
	}
	if !strings.Contains(PXEMenu, "chain /nodes/${mac:hexhyp}.ipxe") {
		t.Errorf("menu %q", PXEMenu)
	}
}
