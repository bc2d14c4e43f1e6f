package testkit

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/zosnet/zosnet/internal/netns"
)

// Snapshot is the machine-wide state a leak check compares. Every field is a sorted list.
type Snapshot struct {
	Namespaces []string // named network namespaces in /run/netns
	Links      []string // links in the host network namespace
	Mounts     []string // mount points of this process's mount namespace
	WGSockets  []string // entries of /run/wireguard and /var/run/wireguard
	Processes  []string // descendants of this process, as "pid comm"
}

// Take reads the current state. Errors reading one part leave that part empty and are
// returned joined, so a partial snapshot is still usable.
func Take() (Snapshot, error) {
	var s Snapshot
	var errs []error
	var err error
	if s.Namespaces, err = netns.List(""); err != nil {
		errs = append(errs, err)
	}
	if s.Links, err = hostLinks(); err != nil {
		errs = append(errs, err)
	}
	if s.Mounts, err = mounts(); err != nil {
		errs = append(errs, err)
	}
	s.WGSockets = append(dirEntries("/run/wireguard"), dirEntries("/var/run/wireguard")...)
	s.Processes = descendants(os.Getpid())
	for _, l := range [][]string{s.Namespaces, s.Links, s.Mounts, s.WGSockets, s.Processes} {
		slices.Sort(l)
	}
	s.WGSockets = slices.Compact(s.WGSockets)
	if len(errs) > 0 {
		return s, fmt.Errorf("leak snapshot: %v", errs)
	}
	return s, nil
}

// ignore is ZOSNET_LEAK_IGNORE, a regexp for objects a developer knows belong to other
// test processes running at the same time on a shared machine. CI never sets it.
var ignore = func() *regexp.Regexp {
	if v := os.Getenv("ZOSNET_LEAK_IGNORE"); v != "" {
		return regexp.MustCompile(v)
	}
	return nil
}()

// Added lists what after has and s has not, as "kind name" lines.
func (s Snapshot) Added(after Snapshot) []string {
	var out []string
	add := func(kind string, before, now []string) {
		for _, x := range now {
			if ignore != nil && ignore.MatchString(x) {
				continue
			}
			if !slices.Contains(before, x) {
				out = append(out, kind+" "+x)
			}
		}
	}
	add("netns", s.Namespaces, after.Namespaces)
	add("link", s.Links, after.Links)
	add("mount", s.Mounts, after.Mounts)
	add("wg-socket", s.WGSockets, after.WGSockets)
	add("process", s.Processes, after.Processes)
	return out
}

// LeakCheck snapshots the machine now and, when the test ends (after every cleanup
// registered later), fails it for anything added since. The first call of a test binary
// waits for the machine-wide test lock (lock_linux.go), so two suites on one machine do
// not see each other's objects. Processes get up to 3 s to exit
// and the kernel the same to release links, since both go away asynchronously.
func LeakCheck(t testing.TB) {
	t.Helper()
	lockMachine(t)
	before, err := Take()
	if err != nil {
		t.Fatalf("leak check: %v", err)
	}
	t.Cleanup(func() {
		var added []string
		deadline := time.Now().Add(3 * time.Second)
		for {
			after, err := Take()
			if err != nil {
				t.Errorf("leak check: %v", err)
			}
			added = before.Added(after)
			if len(added) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, a := range added {
			t.Errorf("leaked %s%s", a, describe(a))
		}
	})
}

func hostLinks() ([]string, error) {
	// Links of this process's namespace (its main thread's), whichever thread we run on.
	h, err := vnetns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("open host netns: %w", err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in host netns: %w", err)
	}
	defer nh.Close()
	links, err := nh.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list host links: %w", err)
	}
	names := make([]string, 0, len(links))
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	return names, nil
}

func mounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// The shared /run/netns mount point itself stays, as with iproute2.
		if len(fields) > 4 && fields[4] != netns.DefaultDir {
			out = append(out, fields[4])
		}
	}
	return slices.Compact(out), sc.Err()
}

func dirEntries(dir string) []string {
	ents, _ := os.ReadDir(dir)
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}

// describe says more of a leaked "process PID comm": its state, parent, where it
// sleeps, the lab role and node it was started for (a lab re-executes the test binary
// as node holders and helpers, all named like it), and its command line.
func describe(leak string) string {
	var pid int
	if _, err := fmt.Sscanf(leak, "process %d", &pid); err != nil {
		return ""
	}
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return " (gone since)"
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return ""
	}
	var parts []string
	parent, _ := os.ReadFile(filepath.Join("/proc", f[1], "comm"))
	parts = append(parts, "state "+f[0], "parent "+f[1]+" "+strings.TrimSpace(string(parent)))
	if w, err := os.ReadFile(filepath.Join(dir, "wchan")); err == nil && len(w) > 0 && string(w) != "0" {
		parts = append(parts, "wchan "+string(w))
	}
	env, _ := os.ReadFile(filepath.Join(dir, "environ"))
	for _, kv := range strings.Split(string(env), "\x00") {
		if strings.HasPrefix(kv, "ZOSLAB_") || strings.HasPrefix(kv, "ZOSNET_TEST_") {
			parts = append(parts, kv)
		}
	}
	if argv, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		parts = append(parts, "argv "+strings.Join(strings.Split(strings.TrimRight(string(argv), "\x00"), "\x00"), " "))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// descendants lists every process below root, found in one pass over /proc.
func descendants(root int) []string {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parentheses.
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid], comm[pid] = ppid, s[i+1:j]
	}
	var out []string
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				out = append(out, fmt.Sprintf("%d %s", pid, comm[pid]))
				break
			}
		}
	}
	return out
}

func nsHandle(ns *netns.NS) vnetns.NsHandle { return vnetns.NsHandle(ns.Fd()) }
