package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Usage is what a lab's processes use of the box at one moment: memory (resident set)
// and CPU time, in total and per program (the process's comm: networkd, provisiond,
// netinit, registry, dnsmasq, the holders...).
type Usage struct {
	Procs    int              // processes counted
	RSS      int64            // bytes, sum of VmRSS over the processes
	CPU      float64          // seconds of user+system time the live processes have used
	Programs map[string]*Prog // by comm
}

// Prog is one program's share of a Usage.
type Prog struct {
	Procs int
	RSS   int64
	CPU   float64
}

// Usage sums the memory and CPU time of the lab's live processes (found like Down finds
// them: the lab's environment mark or a node's marker file), read from /proc. Shared
// pages are counted in every process that maps them, so RSS is an upper bound.
func (l *Lab) Usage() Usage { return usageOf(labPIDs(l.name)) }

// usageOf sums /proc's figures of pids; processes that are gone are skipped.
func usageOf(pids []int) Usage {
	u := Usage{Programs: map[string]*Prog{}}
	tick := float64(clockTicks)
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid)
		status, err := os.ReadFile(dir + "/status")
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		name, rss := parseStatus(status)
		ticks, err := parseStatTicks(stat)
		if err != nil {
			continue
		}
		p := u.Programs[name]
		if p == nil {
			p = &Prog{}
			u.Programs[name] = p
		}
		cpu := float64(ticks) / tick
		p.Procs, p.RSS, p.CPU = p.Procs+1, p.RSS+rss, p.CPU+cpu
		u.Procs, u.RSS, u.CPU = u.Procs+1, u.RSS+rss, u.CPU+cpu
	}
	return u
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on every Linux
// architecture Go supports).
const clockTicks = 100

// parseStatus returns the Name and VmRSS (bytes) of a /proc/PID/status file; kernel
// threads and zombies have no VmRSS (0).
func parseStatus(b []byte) (name string, rss int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			name = v
		case "VmRSS":
			f := strings.Fields(v) // "1234 kB"
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				rss = n * 1024
			}
		}
	}
	return name, rss
}

// parseStatTicks returns utime+stime (clock ticks) from a /proc/PID/stat line; the
// command name in parentheses may hold spaces and parentheses, so fields are counted
// after the last ')'.
func parseStatTicks(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// after ")": state(3) ppid(4) ... utime(14) stime(15) → indexes 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %q: %d fields after the name, want at least 13", b, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat %q: utime %q, stime %q: not numbers", b, f[11], f[12])
	}
	return ut + st, nil
}

// String is a one-line summary: processes, total RSS, CPU seconds, and the programs
// by RSS, largest first.
func (u Usage) String() string {
	names := make([]string, 0, len(u.Programs))
	for n := range u.Programs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return u.Programs[names[i]].RSS > u.Programs[names[j]].RSS })
	var b strings.Builder
	fmt.Fprintf(&b, "%d processes, RSS %.1f MB, CPU %.1f s", u.Procs, mb(u.RSS), u.CPU)
	for _, n := range names {
		p := u.Programs[n]
		fmt.Fprintf(&b, "; %s ×%d %.1f MB %.1f s", n, p.Procs, mb(p.RSS), p.CPU)
	}
	return b.String()
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// LoadAvg returns the box's 1-minute load average (/proc/loadavg).
func LoadAvg() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/loadavg: empty")
	}
	return strconv.ParseFloat(f[0], 64)
}
