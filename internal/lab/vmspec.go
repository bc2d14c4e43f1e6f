package lab

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/zosnet/zosnet/internal/zinit"
)

// VM nodes (issue 16): a node of kind "vm" is a qemu guest (TCG: no KVM needed) that
// boots the node image (make image) — its own kernel, our init, the node's services —
// with one tap per NIC bridged into the NIC's segment, a persistent state disk, and a
// guest agent on a virtio-serial port for Lab.Command / `zoslab exec`. This file is the
// pure part: the spec, its validation, qemu's command line and the PXE scripts.

//go:embed specs/vm.yaml
var vmYAML []byte

// VMSpec returns specs/vm.yaml: the default farm plus vm1 (OOB + PUBLIC, boots its EFI
// disk) and vm2 (OOB, boots by PXE). Each call returns a fresh copy.
func VMSpec() *Spec {
	s, err := ParseSpec(vmYAML)
	if err != nil {
		panic(fmt.Sprintf("lab: embedded vm spec is invalid: %v", err))
	}
	return s
}

// Node kinds.
const (
	KindNetns = "netns"
	KindVM    = "vm"
)

// VM boot methods.
const (
	// BootKernel: qemu loads the image's kernel and initramfs itself (-kernel), with the
	// node's command line. The quickest.
	BootKernel = "kernel"
	// BootDisk: the image's EFI disk (what a USB stick holds), written per node with the
	// node's command line in its boot entry, booted by OVMF.
	BootDisk = "disk"
	// BootPXE: the first NIC's iPXE (qemu's NIC ROM) gets DHCP and a script from the
	// segment's dnsmasq and loads kernel and initramfs over TFTP.
	BootPXE = "pxe"
)

// VM configures a vm node.
type VM struct {
	// Boot is kernel (default), disk or pxe.
	Boot string `yaml:"boot" json:"boot"`
	// Memory in MiB (default 768).
	Memory int `yaml:"memory" json:"memory"`
	// CPUs (default 1).
	CPUs int `yaml:"cpus" json:"cpus"`
	// StateMiB is the size of the state disk (default 128); the guest formats it at its
	// first boot, and it survives reboots (not Down).
	StateMiB int `yaml:"state_mib" json:"state_mib"`
}

// Kind returns the kind of the node called name ("" when there is none).
func (s *Spec) Kind(name string) string {
	if n := s.node(name); n != nil {
		return n.Kind
	}
	return ""
}

// IsVM reports whether the node is a qemu guest.
func (n *Node) IsVM() bool { return n.Kind == KindVM }

func (n *Node) validateKind(f string, segs map[string]*Segment) error {
	switch n.Kind {
	case "", KindNetns:
		n.Kind = KindNetns
		if n.VM != nil {
			return fmt.Errorf("%s.vm: only for kind: vm", f)
		}
		return nil
	case KindVM:
	default:
		return fmt.Errorf("%s.kind: %q: want netns or vm", f, n.Kind)
	}
	if len(n.Boot) > 0 {
		return fmt.Errorf("%s.boot: a vm node runs the image's services (choose them with zosnet.services= in cmdline)", f)
	}
	if len(n.NICs) == 0 {
		return fmt.Errorf("%s.nics: a vm node needs at least one NIC", f)
	}
	if n.VM == nil {
		n.VM = &VM{}
	}
	v := n.VM
	switch v.Boot {
	case "":
		v.Boot = BootKernel
	case BootKernel, BootDisk, BootPXE:
	default:
		return fmt.Errorf("%s.vm.boot: %q: want kernel, disk or pxe", f, v.Boot)
	}
	if v.Memory == 0 {
		v.Memory = 768
	}
	if v.CPUs == 0 {
		v.CPUs = 1
	}
	if v.StateMiB == 0 {
		v.StateMiB = 128
	}
	switch {
	case v.Memory < 256 || v.Memory > 8192:
		return fmt.Errorf("%s.vm.memory: %d MiB: want 256 to 8192", f, v.Memory)
	case v.CPUs < 1 || v.CPUs > 8:
		return fmt.Errorf("%s.vm.cpus: %d: want 1 to 8", f, v.CPUs)
	case v.StateMiB < 16 || v.StateMiB > 16384:
		return fmt.Errorf("%s.vm.state_mib: %d: want 16 to 16384", f, v.StateMiB)
	}
	if g := segs[n.NICs[0].Segment]; v.Boot == BootPXE && !g.DHCP.Enabled {
		return fmt.Errorf("%s.vm.boot: pxe needs DHCP on the first NIC's segment %q", f, g.Name)
	}
	if _, err := zinit.ParseConfig(n.Cmdline); err != nil {
		return fmt.Errorf("%s.cmdline: %w", f, err)
	}
	return nil
}

// runsProvisiond reports whether the node boots provisiond (and so registers).
func (n *Node) runsProvisiond() bool {
	if !n.IsVM() {
		for _, b := range n.Boot {
			if b == "provisiond" {
				return true
			}
		}
		return false
	}
	c, _ := zinit.ParseConfig(n.Cmdline)
	for _, s := range c.Services {
		if s == "provisiond" {
			return true
		}
	}
	return false
}

// VMCmdline is the kernel command line a VM node boots with: the spec's, plus the
// serial console and zosnet.name=<node> unless the spec sets them.
func VMCmdline(n *Node) string {
	c := strings.TrimSpace(n.Cmdline)
	if !strings.Contains(" "+c, " console=") {
		c = strings.TrimSpace("console=ttyS0,115200 " + c)
	}
	if !strings.Contains(" "+c, " "+zinit.ParamName+"=") {
		c += " " + zinit.ParamName + "=" + n.Name
	}
	return strings.TrimSpace(c)
}

// VMFiles are the host files a VM runs with.
type VMFiles struct {
	Kernel, Initramfs string // the image (BootKernel)
	BootDisk          string // the node's boot disk (BootDisk)
	Firmware          string // OVMF (BootDisk)
	StateDisk         string
	Console           string            // serial console log (appended)
	AgentSock         string            // qemu's end of the agent port (qemu listens)
	QMPSock           string            // qemu's monitor
	FwCfg             map[string]string // name below opt/zosnet/state/ -> host file
}

// QemuArgs renders qemu-system-x86_64's arguments for node n (a validated vm node).
// NIC i is a tap passed to qemu as file descriptor firstFD+i.
func QemuArgs(labName string, n *Node, f VMFiles, firstFD int, mtus []int) []string {
	v := n.VM
	a := []string{
		"-name", labName + "-" + n.Name, "-accel", "tcg", "-cpu", "max",
		"-smp", strconv.Itoa(v.CPUs), "-m", strconv.Itoa(v.Memory),
		"-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
		"-chardev", "file,id=con,path=" + f.Console + ",append=on", "-serial", "chardev:con",
		"-device", "virtio-rng-pci",
		"-drive", "if=none,id=state,format=raw,file=" + f.StateDisk,
		"-device", "virtio-blk-pci,drive=state,serial=zosnet-state",
		"-device", "virtio-serial-pci",
		"-chardev", "socket,id=agent,path=" + f.AgentSock + ",server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name=org.zosnet.agent",
		"-qmp", "unix:" + f.QMPSock + ",server=on,wait=off",
	}
	for i, c := range n.NICs {
		dev := fmt.Sprintf("virtio-net-pci,netdev=n%d,mac=%s", i, c.MAC)
		if i < len(mtus) && mtus[i] != 1500 && mtus[i] > 0 {
			dev += fmt.Sprintf(",host_mtu=%d", mtus[i])
		}
		switch {
		case v.Boot == BootPXE && i == 0:
			dev += ",bootindex=1"
		default:
			dev += ",romfile="
		}
		a = append(a, "-netdev", fmt.Sprintf("tap,id=n%d,fd=%d", i, firstFD+i), "-device", dev)
	}
	for _, name := range slices.Sorted(maps.Keys(f.FwCfg)) {
		a = append(a, "-fw_cfg", "name=opt/zosnet/state/"+name+",file="+f.FwCfg[name])
	}
	switch v.Boot {
	case BootKernel:
		a = append(a, "-kernel", f.Kernel, "-initrd", f.Initramfs, "-append", VMCmdline(n))
	case BootDisk:
		a = append(a, "-bios", f.Firmware,
			"-drive", "if=none,id=boot,format=raw,readonly=on,file="+f.BootDisk,
			"-device", "virtio-blk-pci,drive=boot,bootindex=0")
	case BootPXE:
		a = append(a, "-boot", "order=n")
	}
	return a
}

// PXEMenu is the script dnsmasq hands to iPXE clients: each node's own script by MAC.
const PXEMenu = "#!ipxe\nchain /nodes/${mac:hexhyp}.ipxe || goto none\n:none\necho zoslab: no boot script for ${mac:hexhyp} on this farm\nsleep 10\nreboot\n"

// PXENodeScript boots the image with the node's command line.
func PXENodeScript(n *Node) string {
	return "#!ipxe\nkernel /vmlinuz initrd=initrd.img " + VMCmdline(n) + "\ninitrd /initrd.img\nboot\n"
}

// PXEScriptName is a node NIC's script name (iPXE's ${mac:hexhyp}).
func PXEScriptName(mac string) string {
	return strings.ReplaceAll(strings.ToLower(mac), ":", "-") + ".ipxe"
}

// pxeSegments lists the segments whose dnsmasq serves PXE: those of the first NIC of
// every vm node that boots by PXE.
func (s *Spec) pxeSegments() map[string]bool {
	out := map[string]bool{}
	for _, n := range s.Nodes {
		if n.IsVM() && n.VM.Boot == BootPXE {
			out[n.NICs[0].Segment] = true
		}
	}
	return out
}
