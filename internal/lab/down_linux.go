package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
)

// routeProto tags the host's unreachable routes as zoslab's.
const routeProto = netlink.RouteProtocol(0xa5)

// routeMetric keeps the unreachable routes below any real route of the host.
const routeMetric = 4242

// Down removes everything of the lab name: its processes (node holders and everything in
// the nodes, servers, services), namespaces, files and, when no other lab is up, the
// host's unreachable routes. It works from marks alone (no state file needed), so it
// also cleans up after a crash or a half-finished Up. A lab that is not there is success.
func Down(ctx context.Context, name string) error {
	if name == "" {
		name = DefaultName
	}
	if err := CheckName(name); err != nil {
		return err
	}
	var errs []error
	if err := killLab(ctx, name); err != nil {
		errs = append(errs, err)
	}
	if err := deleteNamespaces(name); err != nil {
		errs = append(errs, err)
	}
	if err := removeDir(name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// labPIDs finds the lab's processes in one pass over /proc: by the environment mark, or
// by the marker file in a node's private /run.
func labPIDs(name string) []int {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if isLabProc(pid, name) || hasNodeMarker(pid, name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func hasNodeMarker(pid int, name string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/root" + NodeMarker)
	return err == nil && strings.HasPrefix(string(b), name+" ") && !isZombie(pid)
}

// killLab SIGKILLs the lab's processes (a holder takes its whole node with it) and waits
// until they are gone. A process that is exiting has lost its environment and root
// (the marks labPIDs finds it by) while it is not gone yet: a holder, as its node's PID
// 1, waits in its exit for every process of the node to go. So it also waits, by PID and
// start time, until every process it killed is gone or a zombie.
func killLab(ctx context.Context, name string) error {
	deadline := time.Now().Add(10 * time.Second)
	killed := map[int]string{} // pid → start time
	for empty := 0; empty < 2; {
		// Two empty passes in a row: a process caught in execve has an unreadable
		// environment for an instant and would slip through one pass.
		pids := labPIDs(name)
		if len(pids) == 0 {
			empty++
		} else {
			empty = 0
		}
		for _, pid := range pids {
			if _, ok := killed[pid]; !ok {
				if st, ok := procStart(pid); ok {
					killed[pid] = st
				}
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab %s: processes still alive after SIGKILL: %v", name, pids)
		}
		if err := sleepCtx(ctx, name); err != nil {
			return err
		}
	}
	for {
		var exiting []int
		for pid, st := range killed {
			if !goneSince(pid, st) {
				exiting = append(exiting, pid)
			}
		}
		if len(exiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			slices.Sort(exiting)
			return fmt.Errorf("lab %s: processes still exiting 10 s after SIGKILL: %v", name, exiting)
		}
		if err := sleepCtx(ctx, name); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, name string) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("lab %s: waiting for processes to exit: %w", name, ctx.Err())
	case <-time.After(10 * time.Millisecond):
		return nil
	}
}

// procStart returns pid's start time (in clock ticks since boot, the 22nd field of
// /proc/PID/stat); false if it has no such process or it is a zombie.
func procStart(pid int) (string, bool) {
	state, start, ok := procStat(pid)
	if !ok || state == "Z" || state == "X" {
		return "", false
	}
	return start, true
}

// goneSince reports whether the process pid that started at start is gone: no such
// process, a zombie, or another process that got its PID since.
func goneSince(pid int, start string) bool {
	state, st, ok := procStat(pid)
	return !ok || st != start || state == "Z" || state == "X"
}

// procStat reads pid's state and start time from /proc/PID/stat.
func procStat(pid int) (state, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", false
	}
	return parseStat(string(b))
}

// parseStat picks the state and start time out of a /proc/PID/stat line: "pid (comm)
// state ppid ..." with the start time the 20th field after the comm (which may hold
// spaces and parentheses).
func parseStat(s string) (state, start string, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}

func deleteNamespaces(name string) error {
	all, err := netns.List("")
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range all {
		if strings.HasPrefix(n, name+"-") {
			if err := netns.Delete("", n); err != nil {
				errs = append(errs, fmt.Errorf("lab %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func removeDir(name string) error {
	unlock, err := lockRoot()
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.RemoveAll(labDir(name)); err != nil {
		return fmt.Errorf("lab %s: remove state: %w", name, err)
	}
	if len(otherLabs(name)) > 0 {
		return nil
	}
	return removeHostRoutes()
}

func hostHandle() (*netlink.Handle, error) {
	h, err := vnetns.GetFromPath("/proc/" + strconv.Itoa(os.Getpid()) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open host netns: %w", err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink in host netns: %w", err)
	}
	return nh, nil
}

func removeHostRoutes() error {
	h, err := hostHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("list host routes: %w", err)
	}
	var errs []error
	for _, r := range routes {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete host route %s: %w", r.Dst, err))
		}
	}
	return errors.Join(errs...)
}

// addHostRoutes installs an unreachable route in the host namespace for every prefix the
// spec uses, so that lab traffic sent from the host by mistake fails locally.
func addHostRoutes(s *Spec) error {
	h, err := hostHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	for _, p := range s.prefixes() {
		ipn := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		r := &netlink.Route{Dst: ipn, Type: unix.RTN_UNREACHABLE, Protocol: routeProto, Priority: routeMetric}
		if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("host unreachable route %s: %w", p, err)
		}
	}
	return nil
}

// prefixes lists every prefix the spec routes: segments, RA prefixes, static routes.
func (s *Spec) prefixes() []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	add := func(v string) {
		if p, err := netip.ParsePrefix(v); err == nil && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, g := range s.Segments {
		add(g.IPv4)
		add(g.IPv6)
		add(g.RA.Prefix)
	}
	for _, r := range append(append([]Router{}, s.Routers...), s.Hosts...) {
		for _, rt := range r.Routes {
			add(rt.To)
		}
	}
	return out
}
