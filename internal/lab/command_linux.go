package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
)

// Command returns (not started) argv run inside a node (its network, mount, PID and UTS
// namespaces: it sees the node's /run, /proc/cmdline and state dir) or inside a router
// or host (its network namespace). The process carries the lab's mark, so Down kills it
// if it is still running.
func (l *Lab) Command(ctx context.Context, node string, argv ...string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("command: no program given")
	}
	if n := l.st.Spec.node(node); n != nil && n.IsVM() {
		return l.vmCommand(ctx, node, argv) // vm_linux.go
	}
	args, err := l.enterArgs(node)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, tool("nsenter"), append(append(args, "--"), argv...)...)
	cmd.Env = append(append(cleanEnv(), envLab+"="+l.name), pathEnv()...)
	return cmd, nil
}

func (l *Lab) enterArgs(node string) ([]string, error) {
	if pid, ok := l.st.Holders[node]; ok {
		if !isLabProc(pid, l.name) {
			return nil, fmt.Errorf("node %s: holder (pid %d) is gone: the lab is broken, run `zoslab down --name %s`", node, pid, l.name)
		}
		return []string{"-t", strconv.Itoa(pid), "-n", "-m", "-p", "-u"}, nil
	}
	if p := l.NSPath(node); p != "" {
		return []string{"--net=" + p}, nil
	}
	return nil, fmt.Errorf("lab %s: no node, router or host named %q", l.name, node)
}

// LeaseCommand returns (not started) the lab's plain DHCP client run inside node: it
// brings iface up, gets one lease (retransmitting every second, up to timeout), applies
// address and default route and prints "lease ADDR/LEN router GW|none".
func (l *Lab) LeaseCommand(ctx context.Context, node, iface string, timeout time.Duration) (*exec.Cmd, error) {
	if n := l.st.Spec.node(node); n != nil && n.IsVM() {
		return nil, fmt.Errorf("lease: %s is a vm node: its own init runs netinit (see its console)", node)
	}
	exe, err := selfExe()
	if err != nil {
		return nil, err
	}
	cmd, err := l.Command(ctx, node, exe, "--timeout="+timeout.String(), iface)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, envReexec+"=dhcp", envHostNS+"="+hostNSID())
	return cmd, nil
}

// SetCarrier plugs (up) or unplugs (down) a node NIC's cable: the switch port on the
// other end goes up or down, so the NIC sees carrier or not.
func (l *Lab) SetCarrier(node, nic string, up bool) error {
	n := l.st.Spec.node(node)
	if n == nil {
		return fmt.Errorf("set carrier: no node %q", node)
	}
	for i, c := range n.NICs {
		if c.Name != nic {
			continue
		}
		sw, err := openNSH(switchNS(l.name, c.Segment), l.switchPath(c.Segment))
		if err != nil {
			return fmt.Errorf("set carrier %s/%s: %w", node, nic, err)
		}
		defer sw.close()
		if err := setPort(sw, nodePort(node, i), up); err != nil {
			return fmt.Errorf("set carrier %s/%s: %w", node, nic, err)
		}
		if n.IsVM() && l.VMRunning(node) { // the guest's NIC sees the link state through qemu
			if err := qmpSetLink(l.vmFiles(n).QMPSock, fmt.Sprintf("n%d", i), up); err != nil {
				return fmt.Errorf("set carrier %s/%s: %w", node, nic, err)
			}
		}
		l.st.Carrier[node+"/"+nic] = up
		return l.save()
	}
	return fmt.Errorf("set carrier: node %s has no NIC %q", node, nic)
}

func (l *Lab) switchPath(seg string) string { return "/run/netns/" + switchNS(l.name, seg) }

// Status describes a running lab; it encodes to JSON as `zoslab status --json` prints it.
type Status struct {
	Name string `json:"name"`
	// Registry is the URL the registry host serves (when the lab has a "registry" host).
	Registry string `json:"registry,omitempty"`
	// CA is the lab CA's certificate bundle a zosnet profile needs (--ca), and
	// ZosnetConfig the user host's zosnet config dir (ZOSNET_CONFIG_DIR); empty when the
	// lab has no grid.
	CA           string          `json:"ca,omitempty"`
	ZosnetConfig string          `json:"zosnet_config,omitempty"`
	Segments     []SegmentStatus `json:"segments"`
	Routers      []RouterStatus  `json:"routers"`
	Nodes        []NodeStatus    `json:"nodes"`
}

// SegmentStatus is one segment: prefixes, gateway, servers.
type SegmentStatus struct {
	Name       string `json:"name"`
	MTU        int    `json:"mtu"`
	IPv4       string `json:"ipv4,omitempty"`
	IPv6       string `json:"ipv6,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
	DHCP       bool   `json:"dhcp"`
	DHCPRange  string `json:"dhcp_range,omitempty"`
	DHCPRouter bool   `json:"dhcp_router,omitempty"`
	DHCPDelay  string `json:"dhcp_delay,omitempty"`
	RA         string `json:"ra_prefix,omitempty"`
}

// RouterStatus is a router or host with its interfaces.
type RouterStatus struct {
	Name       string      `json:"name"`
	Kind       string      `json:"kind"` // "router" or "host"
	NetNS      string      `json:"netns"`
	Interfaces []Interface `json:"interfaces"`
	Routes     []Route     `json:"routes,omitempty"`
	NAT        string      `json:"nat"`
	Firewall   Firewall    `json:"firewall"`
}

// NodeStatus is a node with its NICs.
type NodeStatus struct {
	Name     string      `json:"name"`
	PID      int         `json:"pid"`
	Running  bool        `json:"running"`
	Cmdline  string      `json:"cmdline"`
	Kind     string      `json:"kind"`                // netns or vm
	Boot     string      `json:"vm_boot,omitempty"`   // vm: kernel, disk or pxe
	Console  string      `json:"console,omitempty"`   // vm: serial console log on the host
	StateDir string      `json:"state_dir,omitempty"` // on the host; the node sees NodeStateDir
	NICs     []NICStatus `json:"nics"`
}

// NICStatus is one NIC of a node.
type NICStatus struct {
	Name    string `json:"name"`
	MAC     string `json:"mac"`
	Segment string `json:"segment"`
	Carrier bool   `json:"carrier"`
	// Addrs are the NIC's global addresses now (whatever the node's software set).
	Addrs []string `json:"addrs,omitempty"`
}

// Status reports the lab's layout and whether its nodes run.
func (l *Lab) Status() Status {
	s := l.st.Spec
	st := Status{Name: l.name}
	if r := s.router("registry"); r != nil && len(r.Interfaces) > 0 && r.Interfaces[0].IPv4 != "" {
		st.Registry = "https://" + netip.MustParsePrefix(r.Interfaces[0].IPv4).Addr().String() + ":8443"
	}
	if ca := l.CAFile(); fileExists(ca) {
		st.CA, st.ZosnetConfig = ca, filepath.Dir(ca)
	}
	for _, g := range s.Segments {
		st.Segments = append(st.Segments, l.segmentStatus(g))
	}
	for _, r := range s.Routers {
		st.Routers = append(st.Routers, routerStatus(l, r, "router"))
	}
	for _, r := range s.Hosts {
		st.Routers = append(st.Routers, routerStatus(l, r, "host"))
	}
	for _, n := range s.Nodes {
		pid := l.st.Holders[n.Name]
		ns := NodeStatus{Name: n.Name, PID: pid, Running: pid > 0 && isLabProc(pid, l.name),
			Cmdline: n.Cmdline, Kind: n.Kind, StateDir: l.NodeDir(n.Name) + "/state"}
		if n.IsVM() {
			ns.PID, ns.Running, ns.StateDir = l.st.VMs[n.Name], l.VMRunning(n.Name), ""
			ns.Boot, ns.Console, ns.Cmdline = n.VM.Boot, l.ConsoleLog(n.Name), VMCmdline(&n)
		}
		for _, c := range n.NICs {
			ns.NICs = append(ns.NICs, NICStatus{Name: c.Name, MAC: c.MAC, Segment: c.Segment, Carrier: l.st.Carrier[n.Name+"/"+c.Name]})
		}
		if ns.Running && !n.IsVM() {
			l.liveAddrs(&ns)
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return st
}

func (l *Lab) segmentStatus(g Segment) SegmentStatus {
	ss := SegmentStatus{Name: g.Name, MTU: g.MTU, IPv4: g.IPv4, IPv6: g.IPv6, Gateway: g.Gateway}
	ss.DHCP = g.DHCP.Enabled
	if on, ok := l.st.DHCPOn[g.Name]; ok {
		ss.DHCP = on
	}
	if ss.DHCP {
		ss.DHCPRange = g.DHCP.Range
		if r, ok := l.st.DHCPRange[g.Name]; ok {
			ss.DHCPRange = r
		}
		ss.DHCPRouter = g.DHCP.Router == nil || *g.DHCP.Router
		if g.DHCP.Delay > 0 {
			ss.DHCPDelay = g.DHCP.Delay.String()
		}
	}
	if g.RA.Enabled {
		ss.RA = g.RA.Prefix
	}
	return ss
}

func routerStatus(l *Lab, r Router, kind string) RouterStatus {
	return RouterStatus{Name: r.Name, Kind: kind, NetNS: nsName(l.name, r.Name), Interfaces: r.Interfaces,
		Routes: r.Routes, NAT: r.NAT.Mode, Firewall: r.Firewall}
}

// NodePID returns the PID (in the host's PID namespace) of a node's holder, 0 if none.
func (l *Lab) NodePID(node string) int { return l.st.Holders[node] }

// liveAddrs fills in the global addresses the node's NICs have right now.
func (l *Lab) liveAddrs(ns *NodeStatus) {
	n, err := l.openNode(ns.Name)
	if err != nil {
		return
	}
	defer n.close()
	for i := range ns.NICs {
		link, err := n.h.LinkByName(ns.NICs[i].Name)
		if err != nil {
			continue
		}
		addrs, _ := n.h.AddrList(link, netlink.FAMILY_ALL)
		for _, a := range addrs {
			if a.IP.IsGlobalUnicast() {
				ns.NICs[i].Addrs = append(ns.NICs[i].Addrs, a.IPNet.String())
			}
		}
	}
}

// tool finds a program the lab runs: on PATH, else in the sbin directories a non-login
// root shell may lack. Unknown ones are returned as given (exec reports them).
func tool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return name
}

// CAFile is the lab CA's bundle (what `zosnet profile set --ca` takes); it exists once
// a booted lab made its grid.
func (l *Lab) CAFile() string { return filepath.Join(l.dir, "zosnet", "ca.crt") }

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
