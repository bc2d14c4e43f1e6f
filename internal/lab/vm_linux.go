package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/guestagent"
	"github.com/zosnet/zosnet/internal/image"
	"github.com/zosnet/zosnet/internal/zinit"
)

// The effectful part of vm nodes (see vmspec.go). A VM's holder is a re-exec of the
// running binary (role "vm", vmholder_linux.go) that runs qemu with the node's taps and
// routes the guest agent; the files of a VM are in its node directory:
//
//	state.img      the state disk (sparse, kept across reboots)
//	boot.img       the node's boot disk (vm.boot: disk), written from the image
//	console.log    the serial console (every boot appended)
//	agent.sock     the guest agent, for Lab.Command (qemu's end: agent-qemu.sock)
//	qmp.sock       qemu's monitor (carrier of the NICs)
//	vm.json        what the holder runs; holder.log its output and qemu's

// Firmware is OVMF, which boots vm nodes' EFI disks.
var Firmware = "/usr/share/ovmf/OVMF.fd"

// qemuBinary is Debian's qemu-system-x86 (TCG: no KVM needed).
const qemuBinary = "qemu-system-x86_64"

func (l *Lab) hasVMs() bool {
	for _, n := range l.st.Spec.Nodes {
		if n.IsVM() {
			return true
		}
	}
	return false
}

// checkImage fails early when the spec has vm nodes and the image or qemu is missing.
func (l *Lab) checkImage() error {
	if !l.hasVMs() {
		return nil
	}
	need := []string{"vmlinuz", "initrd.img"}
	for _, n := range l.st.Spec.Nodes {
		if n.IsVM() && n.VM.Boot == BootDisk {
			need = append(need, image.BootloaderFile)
			if _, err := os.Stat(Firmware); err != nil {
				return fmt.Errorf("lab %s: node %s boots from disk but OVMF (%s) is missing: scripts/install-deps.sh installs ovmf (run it before any lab is up)", l.name, n.Name, Firmware)
			}
		}
	}
	for _, f := range need {
		if _, err := os.Stat(filepath.Join(l.st.ImageDir, f)); err != nil {
			return fmt.Errorf("lab %s: vm nodes need the node image: %s is missing (run `make image`, or pass the image directory)", l.name, filepath.Join(l.st.ImageDir, f))
		}
	}
	if tool(qemuBinary) == qemuBinary {
		if _, err := exec.LookPath(qemuBinary); err != nil {
			return fmt.Errorf("lab %s: vm nodes need %s: scripts/install-deps.sh installs qemu-system-x86 (run it before any lab is up)", l.name, qemuBinary)
		}
	}
	return nil
}

func (l *Lab) vmFiles(n *Node) VMFiles {
	d := l.NodeDir(n.Name)
	f := VMFiles{
		Kernel: filepath.Join(l.st.ImageDir, "vmlinuz"), Initramfs: filepath.Join(l.st.ImageDir, "initrd.img"),
		BootDisk: filepath.Join(d, "boot.img"), Firmware: Firmware, StateDisk: filepath.Join(d, "state.img"),
		Console: filepath.Join(d, "console.log"), AgentSock: filepath.Join(d, "agent-qemu.sock"),
		QMPSock: filepath.Join(d, "qmp.sock"), FwCfg: map[string]string{},
	}
	// Files the lab puts in a node's state directory (the registry's CA) reach a VM
	// through fw_cfg; its init copies them into its state disk.
	if ents, err := os.ReadDir(filepath.Join(d, "state")); err == nil {
		for _, e := range ents {
			if e.Type().IsRegular() {
				f.FwCfg[e.Name()] = filepath.Join(d, "state", e.Name())
			}
		}
	}
	return f
}

// AgentSocket is where a VM node's guest agent is reached (guestagent.Exec).
func (l *Lab) AgentSocket(node string) string { return filepath.Join(l.NodeDir(node), "agent.sock") }

// ConsoleLog is a VM node's serial console log.
func (l *Lab) ConsoleLog(node string) string { return filepath.Join(l.NodeDir(node), "console.log") }

// prepareVM writes what a VM needs before it powers on: the state disk (once), the boot
// disk with the node's command line (disk boot) and its PXE script (pxe boot).
func (l *Lab) prepareVM(n *Node) error {
	f := l.vmFiles(n)
	if _, err := os.Stat(f.StateDisk); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(f.StateDisk, nil, 0o600); err != nil {
			return fmt.Errorf("node %s: state disk: %w", n.Name, err)
		}
		if err := os.Truncate(f.StateDisk, int64(n.VM.StateMiB)<<20); err != nil {
			return fmt.Errorf("node %s: state disk: %w", n.Name, err)
		}
	}
	switch n.VM.Boot {
	case BootDisk:
		boot, err := os.ReadFile(filepath.Join(l.st.ImageDir, image.BootloaderFile))
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		_, err = image.WriteDisk(f.BootDisk, image.DiskFiles{Bootloader: boot, Kernel: f.Kernel, Initramfs: f.Initramfs, Cmdline: VMCmdline(n)})
		if err != nil {
			return fmt.Errorf("node %s: boot disk: %w", n.Name, err)
		}
	case BootPXE:
		return l.writePXE(n)
	}
	return nil
}

// tftpRoot is the lab's TFTP directory (served by the dnsmasq of PXE segments).
func (l *Lab) tftpRoot() string { return filepath.Join(l.dir, "tftp") }

// writePXE puts the image and the node's script into the TFTP directory.
func (l *Lab) writePXE(n *Node) error {
	root := l.tftpRoot()
	if err := os.MkdirAll(filepath.Join(root, "nodes"), 0o755); err != nil {
		return err
	}
	for _, name := range []string{"vmlinuz", "initrd.img"} {
		dst := filepath.Join(root, name)
		os.Remove(dst)
		if err := os.Link(filepath.Join(l.st.ImageDir, name), dst); err != nil {
			b, err := os.ReadFile(filepath.Join(l.st.ImageDir, name))
			if err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
			if err != nil {
				return fmt.Errorf("pxe: %s: %w", name, err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "zosnet.ipxe"), []byte(PXEMenu), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "nodes", PXEScriptName(n.NICs[0].MAC)), []byte(PXENodeScript(n)), 0o644)
}

// pxeConf is the dnsmasq lines of a PXE segment: TFTP, and the script for iPXE clients
// (qemu's NIC ROMs are iPXE; a real farm would chain-load undionly.kpxe first).
func (l *Lab) pxeConf(seg string) string {
	if !l.st.Spec.pxeSegments()[seg] {
		return ""
	}
	os.MkdirAll(l.tftpRoot(), 0o755)
	return "enable-tftp\ntftp-root=" + l.tftpRoot() + "\ndhcp-match=set:ipxe,175\ndhcp-boot=tag:ipxe,zosnet.ipxe\n"
}

// startVMs powers on every vm node (Up without Boot: nothing waits for them).
func (l *Lab) startVMs(o Options) error {
	for i := range l.st.Spec.Nodes {
		n := &l.st.Spec.Nodes[i]
		if !n.IsVM() {
			continue
		}
		if err := l.prepareVM(n); err != nil {
			return err
		}
		if err := l.powerOnVM(n); err != nil {
			return err
		}
		o.Log.Info("vm: powered on", "node", n.Name, "boot", n.VM.Boot)
	}
	return l.save()
}

// bootVM powers a vm node on and waits (o.BootTimeout) until its init reports netinit
// done — the VM counterpart of running netinit in a namespace node.
func (l *Lab) bootVM(ctx context.Context, o Options, n *Node) error {
	if err := l.prepareVM(n); err != nil {
		return err
	}
	if err := l.powerOnVM(n); err != nil {
		return err
	}
	start := time.Now()
	err := poll(ctx, o.BootTimeout, func() bool {
		r, err := l.VMStatus(ctx, n.Name)
		if err != nil {
			return false
		}
		for _, s := range r.Services {
			if s.Name == "netinit" {
				return s.State == zinit.StateDone
			}
		}
		return true // no netinit in its services
	})
	if err != nil {
		return fmt.Errorf("node %s (vm): netinit not done within %s; the console ends: %s", n.Name, o.BootTimeout, lastLines(readFile(l.ConsoleLog(n.Name)), 15))
	}
	o.Log.Info("boot: vm up", "node", n.Name, "boot", n.VM.Boot, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

// VMStatus asks a vm node's init for its report (services, state disk, uptime).
func (l *Lab) VMStatus(ctx context.Context, node string) (zinit.Report, error) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := guestagent.Exec(ctx, l.AgentSocket(node), guestagent.Request{Op: "status"}, nil, &out, &errb)
	if err != nil {
		return zinit.Report{}, err
	}
	var r zinit.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return zinit.Report{}, fmt.Errorf("node %s: status: %w", node, err)
	}
	return r, nil
}

// powerOnVM makes the node's taps (one per NIC, a port of its segment's bridge) and
// starts its holder, which runs qemu; it returns once the guest agent's socket listens.
func (l *Lab) powerOnVM(n *Node) error {
	taps, err := l.makeTaps(n)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range taps {
			t.Close()
		}
	}()
	var mtus []int
	for _, c := range n.NICs {
		mtus = append(mtus, l.st.Spec.segment(c.Segment).MTU)
	}
	f := l.vmFiles(n)
	os.Remove(f.AgentSock)
	os.Remove(f.QMPSock)
	cfg := vmHolderConfig{Node: n.Name, Qemu: tool(qemuBinary), Args: QemuArgs(l.name, n, f, 3, mtus),
		QemuAgent: f.AgentSock, Listen: l.AgentSocket(n.Name), Taps: len(taps)}
	pid, err := startVMHolder(l.name, l.NodeDir(n.Name), cfg, taps)
	if err != nil {
		return err
	}
	if l.st.VMs == nil {
		l.st.VMs = map[string]int{}
	}
	l.st.VMs[n.Name] = pid
	return nil
}

// makeTaps creates the node's taps in its segments' switch namespaces, enslaved to the
// bridge, up when the NIC has carrier; it returns their file descriptors (the taps
// vanish when the last one closes, i.e. when qemu dies).
func (l *Lab) makeTaps(n *Node) (fds []*os.File, err error) {
	defer func() {
		if err != nil {
			for _, f := range fds {
				f.Close()
			}
		}
	}()
	for i, c := range n.NICs {
		sw, err := openNSH(switchNS(l.name, c.Segment), l.switchPath(c.Segment))
		if err != nil {
			return fds, err
		}
		f, err := makeTap(sw, nodePort(n.Name, i), l.st.Spec.segment(c.Segment).MTU, l.carrier(n, c))
		sw.close()
		if err != nil {
			return fds, fmt.Errorf("node %s: NIC %s: %w", n.Name, c.Name, err)
		}
		fds = append(fds, f)
		l.st.Carrier[n.Name+"/"+c.Name] = l.carrier(n, c)
	}
	return fds, nil
}

func (l *Lab) carrier(n *Node, c NIC) bool {
	if up, ok := l.st.Carrier[n.Name+"/"+c.Name]; ok {
		return up
	}
	return *c.Carrier
}

func makeTap(sw *nsh, name string, mtu int, up bool) (*os.File, error) {
	tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP,
		Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR, Queues: 1, NonPersist: true}
	err := sw.ns.Do(func() error { return netlink.LinkAdd(tap) })
	if err != nil {
		return nil, fmt.Errorf("%s: tap %s: %w", sw.name, name, err)
	}
	if len(tap.Fds) != 1 {
		return nil, fmt.Errorf("%s: tap %s: got %d queues", sw.name, name, len(tap.Fds))
	}
	f := tap.Fds[0]
	link, err := sw.h.LinkByName(name)
	if err == nil {
		err = sw.h.LinkSetMTU(link, mtu)
	}
	var br netlink.Link
	if err == nil {
		br, err = sw.h.LinkByName("br0")
	}
	if err == nil {
		err = sw.h.LinkSetMaster(link, br)
	}
	if err == nil && up {
		err = sw.h.LinkSetUp(link)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: tap %s: %w", sw.name, name, err)
	}
	return f, nil
}

// powerOffVM kills the VM (its holder, and qemu by its mark) and waits until its taps
// are gone.
func (l *Lab) powerOffVM(ctx context.Context, n *Node) error {
	pid := l.st.VMs[n.Name]
	delete(l.st.VMs, n.Name)
	for _, p := range labPIDs(l.name) {
		if p == pid || isVMProc(p, n.Name) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	if err := poll(ctx, 10*time.Second, func() bool {
		for _, p := range labPIDs(l.name) {
			if p == pid || isVMProc(p, n.Name) {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("vm %s does not exit: %w", n.Name, err)
	}
	return l.waitPortsGone(ctx, n)
}

func isVMProc(pid int, node string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return err == nil && hasEnv(b, envVM+"="+node)
}

// VMRunning reports whether a vm node's holder (and so qemu) runs.
func (l *Lab) VMRunning(node string) bool {
	pid := l.st.VMs[node]
	return pid > 0 && isLabProc(pid, l.name)
}

// vmCommand is Command for a vm node: a re-exec of this binary (role "vmexec") that
// runs argv in the guest through the agent and exits with its code.
func (l *Lab) vmCommand(ctx context.Context, node string, argv []string) (*exec.Cmd, error) {
	if !l.VMRunning(node) {
		return nil, fmt.Errorf("node %s: the VM is not running (see %s)", node, l.ConsoleLog(node))
	}
	exe, err := selfExe()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{l.AgentSocket(node)}, argv...)...)
	cmd.Env = append(cleanEnv(), envLab+"="+l.name, envReexec+"=vmexec")
	return cmd, nil
}

// SetCmdline changes a node's kernel command line: a vm node boots with it at its next
// power-on (Reboot), as when a farmer changes the boot configuration; a namespace node's
// processes see the new /proc/cmdline at once. The line is validated like the spec's.
func (l *Lab) SetCmdline(node, cmdline string) error {
	n := l.st.Spec.node(node)
	if n == nil {
		return fmt.Errorf("set cmdline: no node %q", node)
	}
	old := n.Cmdline
	n.Cmdline = cmdline
	if err := l.st.Spec.Validate(); err != nil {
		n.Cmdline = old
		return fmt.Errorf("set cmdline %s: %w", node, err)
	}
	if err := os.WriteFile(filepath.Join(l.NodeDir(node), "cmdline"), []byte(cmdline+"\n"), 0o644); err != nil {
		n.Cmdline = old
		return fmt.Errorf("set cmdline %s: %w", node, err)
	}
	return l.save()
}
