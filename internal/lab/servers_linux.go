package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// envServer names a lab server process ("dnsmasq-<seg>", "radvd-<seg>") in its
// environment, so that a restart only ever kills the right process.
const envServer = "ZOSLAB_SERVER"

// dnsmasqConf renders the segment's dnsmasq config: DHCP only (port=0), no ping before
// offering unless the spec asks (it livelocks many clients), authoritative, every path
// explicit.
func (l *Lab) dnsmasqConf(g *Segment) (string, error) {
	rng := g.DHCP.Range
	if r, ok := l.st.DHCPRange[g.Name]; ok {
		rng = r
	}
	first, last, err := ParseRange(rng, g.IPv4)
	if err != nil {
		return "", fmt.Errorf("segment %s: dhcp range: %w", g.Name, err)
	}
	p := netip.MustParsePrefix(g.IPv4)
	mask := ipNet(p).Mask
	router := "dhcp-option=3\n" // an empty option 3: send no router
	if *g.DHCP.Router {
		gw := netip.MustParsePrefix(l.st.Spec.router(g.Gateway).iface(g.Name).IPv4).Addr()
		router = "dhcp-option=option:router," + gw.String() + "\n"
	}
	base := filepath.Join(l.dir, "servers", "dnsmasq-"+g.Name)
	ping := "no-ping\n"
	if g.DHCP.Ping {
		ping = ""
	}
	if len(g.DHCP.DNS) > 0 {
		router += "dhcp-option=option:dns-server," + strings.Join(g.DHCP.DNS, ",") + "\n"
	}
	return fmt.Sprintf(`interface=%s
bind-interfaces
port=0
no-resolv
no-hosts
%sdhcp-authoritative
dhcp-range=%s,%s,%d.%d.%d.%d,1h
%sdhcp-leasefile=%s.leases
pid-file=%s.pid
user=root
group=root
log-dhcp
log-facility=%s.log
%s`, g.Name, ping, first, last, mask[0], mask[1], mask[2], mask[3], router, base, base, base, l.pxeConf(g.Name)), nil
}

// dnsConf renders a DNS-only dnsmasq config for router r: its addresses on port 53,
// its records (host-record: A and AAAA), no upstream, no DHCP.
func (l *Lab) dnsConf(r *Router) string {
	base := filepath.Join(l.dir, "servers", "dns-"+r.Name)
	var b strings.Builder
	for _, it := range r.Interfaces {
		for _, a := range []string{it.IPv4, it.IPv6} {
			if p, err := netip.ParsePrefix(a); err == nil {
				fmt.Fprintf(&b, "listen-address=%s\n", p.Addr())
			}
		}
	}
	names := make([]string, 0, len(r.DNS.Records))
	for n := range r.DNS.Records {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "host-record=%s,%s\n", n, strings.Join(r.DNS.Records[n], ","))
	}
	domains := make([]string, 0, len(r.DNS.Wildcards))
	for d := range r.DNS.Wildcards {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		for _, a := range r.DNS.Wildcards[d] {
			fmt.Fprintf(&b, "address=/%s/%s\n", d, a)
		}
	}
	fmt.Fprintf(&b, "bind-interfaces\nno-resolv\nno-hosts\npid-file=%s.pid\nuser=root\ngroup=root\nlog-queries\nlog-facility=%s.log\n", base, base)
	return b.String()
}

// startDNS writes router r's DNS config and starts dnsmasq in its namespace.
func (l *Lab) startDNS(r *Router) error {
	key := "dns-" + r.Name
	path := filepath.Join(l.dir, "servers", key+".conf")
	if err := os.WriteFile(path, []byte(l.dnsConf(r)), 0o644); err != nil {
		return fmt.Errorf("%s: write dnsmasq config: %w", r.Name, err)
	}
	return l.startServer(key, r.Name, 0, tool("dnsmasq"), "-k", "-C", path)
}

// radvdConf renders the segment's radvd config: the prefix for SLAAC, short intervals.
func radvdConf(g *Segment) string {
	return fmt.Sprintf(`interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 10;
	AdvDefaultLifetime 1800;
	prefix %s {
		AdvOnLink on;
		AdvAutonomous on;
	};
};
`, g.Name, g.RA.Prefix)
}

// startDHCP (re)writes the segment's dnsmasq config and starts it in the gateway's
// namespace, after delay.
func (l *Lab) startDHCP(g *Segment, delay time.Duration) error {
	conf, err := l.dnsmasqConf(g)
	if err != nil {
		return err
	}
	key := "dnsmasq-" + g.Name
	path := filepath.Join(l.dir, "servers", key+".conf")
	os.Remove(filepath.Join(l.dir, "servers", key+".pid"))
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("segment %s: write dnsmasq config: %w", g.Name, err)
	}
	return l.startServer(key, g.Gateway, delay, tool("dnsmasq"), "-k", "-C", path)
}

// startRA writes the segment's radvd config and starts it in the gateway's namespace.
func (l *Lab) startRA(g *Segment) error {
	key := "radvd-" + g.Name
	base := filepath.Join(l.dir, "servers", key)
	if err := os.WriteFile(base+".conf", []byte(radvdConf(g)), 0o644); err != nil {
		return fmt.Errorf("segment %s: write radvd config: %w", g.Name, err)
	}
	return l.startServer(key, g.Gateway, 0, tool("radvd"), "-n", "-C", base+".conf", "-p", base+".pid", "-m", "logfile", "-l", base+".log")
}

// startServer runs argv in the named router's namespace as a lab server that outlives
// the caller, optionally after a delay (through a re-exec that sleeps, then execs).
func (l *Lab) startServer(key, router string, delay time.Duration, argv ...string) error {
	args := []string{"--net=" + l.NSPath(router), "--"}
	env := append(cleanEnv(), envLab+"="+l.name, envServer+"="+key)
	if delay > 0 {
		exe, err := selfExe()
		if err != nil {
			return err
		}
		args = append(args, exe, delay.String())
		env = append(env, envReexec+"=delay")
	}
	args = append(args, argv...)
	cmd := exec.Command(tool("nsenter"), args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := os.OpenFile(filepath.Join(l.dir, "servers", key+".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: output file: %w", key, err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", key, argv[0], err)
	}
	go cmd.Wait()
	l.st.Servers[key] = cmd.Process.Pid
	return nil
}

// waitServer waits until a server started without delay has written its pid file (so
// it parsed its config and bound its sockets), or fails with its output if it exited.
func (l *Lab) waitServer(key string) error {
	pid := l.st.Servers[key]
	base := filepath.Join(l.dir, "servers", key)
	err := poll(context.Background(), 5*time.Second, func() bool {
		if _, err := os.Stat(base + ".pid"); err == nil {
			return true
		}
		return isZombie(pid) // gone: its environment is unreadable while it execs
	})
	if err == nil && !isZombie(pid) {
		return nil
	}
	out, _ := os.ReadFile(base + ".out")
	log, _ := os.ReadFile(base + ".log")
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("%s did not start: %w: %s", key, err, lastLines(string(out)+string(log), 5))
}

// stopServer kills a lab server if it runs (checked by its marks) and waits for it.
func (l *Lab) stopServer(key string) error {
	pid, ok := l.st.Servers[key]
	if !ok {
		return nil
	}
	delete(l.st.Servers, key)
	if !isServer(pid, l.name, key) {
		return nil
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); isServer(pid, l.name, key); {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: pid %d does not exit", key, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func isServer(pid int, lab, key string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return err == nil && hasEnv(b, envLab+"="+lab) && hasEnv(b, envServer+"="+key) && !isZombie(pid)
}

// SetDHCP starts, stops or re-ranges the DHCP server of a segment. rangeCIDR ("" keeps
// the current range) is a CIDR or FIRST-LAST inside the segment's IPv4 prefix. The new
// server starts at once (no delay). Leases of the old server are kept.
func (l *Lab) SetDHCP(segment string, on bool, rangeCIDR string) error {
	g := l.st.Spec.segment(segment)
	if g == nil {
		return fmt.Errorf("set dhcp: segment %q: no such segment", segment)
	}
	if g.Gateway == "" || g.IPv4 == "" || l.st.Spec.router(g.Gateway).iface(segment).IPv4 == "" {
		return fmt.Errorf("set dhcp: segment %q: needs an ipv4 prefix and a gateway with an ipv4 address on it", segment)
	}
	if g.DHCP.Router == nil {
		t := true
		g.DHCP.Router = &t
	}
	if g.DHCP.Range == "" {
		g.DHCP.Range = defaultRange(netip.MustParsePrefix(g.IPv4))
	}
	if rangeCIDR != "" {
		if _, _, err := ParseRange(rangeCIDR, g.IPv4); err != nil {
			return fmt.Errorf("set dhcp: segment %q: range: %w", segment, err)
		}
	}
	if err := l.stopServer("dnsmasq-" + segment); err != nil {
		return fmt.Errorf("set dhcp: %w", err)
	}
	if rangeCIDR != "" {
		l.st.DHCPRange[segment] = rangeCIDR
	}
	l.st.DHCPOn[segment] = on
	if on {
		if err := l.startDHCP(g, 0); err != nil {
			return fmt.Errorf("set dhcp: %w", err)
		}
		if err := l.waitServer("dnsmasq-" + segment); err != nil {
			return fmt.Errorf("set dhcp: %w", err)
		}
	}
	return l.save()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
