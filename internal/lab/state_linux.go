package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// StateRoot holds one directory per running lab: state.json, node directories (cmdline,
// state/, holder.log, service logs) and server configs and logs.
const StateRoot = "/run/zoslab"

// DefaultName is the lab name when none is given.
const DefaultName = "lab"

// Lab is a running lab, from Up or Open. Its methods read and update the lab's state
// file; do not change one lab from two goroutines at once.
type Lab struct {
	name string
	dir  string
	st   *state
	log  *slog.Logger
}

// state is what state.json keeps: enough for Open, Status, Command and the Set* methods.
type state struct {
	Name    string         `json:"name"`
	Spec    *Spec          `json:"spec"`
	Holders map[string]int `json:"holders"` // node -> holder PID
	Servers map[string]int `json:"servers"` // "dnsmasq-<seg>" / "radvd-<seg>" -> PID
	// DHCPRange and DHCPOn override the spec after SetDHCP.
	DHCPOn    map[string]bool   `json:"dhcp_on"`
	DHCPRange map[string]string `json:"dhcp_range"`
	Carrier   map[string]bool   `json:"carrier"` // "<node>/<nic>" -> up
	// VMs are the vm nodes' holders (node -> PID of the process that runs qemu).
	VMs map[string]int `json:"vms,omitempty"`
	// ImageDir is the node image vm nodes boot (vm_linux.go).
	ImageDir string `json:"image_dir,omitempty"`
	// BinDir holds the binaries the lab booted (service_linux.go starts them again).
	BinDir string `json:"bin_dir,omitempty"`
}

// CheckName validates a lab name: it prefixes every object of the lab.
func CheckName(name string) error {
	if err := checkName("lab name", name); err != nil {
		return err
	}
	return nil
}

func labDir(name string) string { return filepath.Join(StateRoot, name) }

// nsName is the named network namespace of a router or host.
func nsName(lab, r string) string { return lab + "-" + r }

// switchNS is the named network namespace of a segment's switch.
func switchNS(lab, seg string) string { return lab + "-s-" + seg }

// NSPath returns the path of the network namespace file of a router, host or node (for
// netns.Open and nsenter --net), or "" if there is no such name.
func (l *Lab) NSPath(name string) string {
	if pid, ok := l.st.Holders[name]; ok {
		return "/proc/" + strconv.Itoa(pid) + "/ns/net"
	}
	if l.st.Spec.router(name) != nil {
		return filepath.Join("/run/netns", nsName(l.name, name))
	}
	return ""
}

// Name returns the lab's name.
func (l *Lab) Name() string { return l.name }

// Spec returns the spec the lab runs (do not modify it).
func (l *Lab) Spec() *Spec { return l.st.Spec }

// NodeDir returns the host directory of a node (its state dir is NodeDir/state, seen
// by the node as /var/lib/zosnet; service logs are in NodeDir/state/log).
func (l *Lab) NodeDir(node string) string { return filepath.Join(l.dir, "nodes", node) }

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l.st, "", "  ")
	if err != nil {
		return fmt.Errorf("lab %s: encode state: %w", l.name, err)
	}
	tmp := filepath.Join(l.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("lab %s: write state: %w", l.name, err)
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, "state.json")); err != nil {
		return fmt.Errorf("lab %s: write state: %w", l.name, err)
	}
	return nil
}

// Open attaches to a running lab through its state file. It fails if the lab is not up
// or its node holders are gone.
func Open(name string) (*Lab, error) {
	if name == "" {
		name = DefaultName
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(labDir(name), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %s is not up (no %s): run `zoslab up --name %s`", name, labDir(name), name)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: read state: %w", name, err)
	}
	st := &state{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("lab %s: decode state: %w", name, err)
	}
	if st.Spec == nil {
		return nil, fmt.Errorf("lab %s: state has no spec (half-made lab): run `zoslab down --name %s`", name, name)
	}
	if err := st.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("lab %s: state spec: %w", name, err)
	}
	l := &Lab{name: name, dir: labDir(name), st: st, log: slog.New(slog.DiscardHandler)}
	for node, pid := range st.Holders {
		if !isLabProc(pid, name) {
			return nil, fmt.Errorf("lab %s: node %s (pid %d) is gone: run `zoslab down --name %s`", name, node, pid, name)
		}
	}
	return l, nil
}

// isLabProc reports whether pid is a live process marked as the lab's.
func isLabProc(pid int, lab string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	return hasEnv(b, envLab+"="+lab) && !isZombie(pid)
}

func hasEnv(environ []byte, kv string) bool {
	for _, e := range strings.Split(string(environ), "\x00") {
		if e == kv {
			return true
		}
	}
	return false
}

func isZombie(pid int) bool {
	state, _, ok := procStat(pid)
	return !ok || state == "Z" || state == "X"
}

// lockRoot takes an exclusive lock on StateRoot (creating it) for changes that more than
// one lab shares: the host's unreachable routes and the set of lab directories.
func lockRoot() (func(), error) {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", StateRoot, err)
	}
	f, err := os.OpenFile(filepath.Join(StateRoot, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", StateRoot, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", StateRoot, err)
	}
	return func() { f.Close() }, nil
}

// otherLabs lists lab directories other than name.
func otherLabs(name string) []string {
	ents, _ := os.ReadDir(StateRoot)
	var out []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != name {
			out = append(out, e.Name())
		}
	}
	return out
}

// Labs lists the names of the labs that have a state directory.
func Labs() []string { return otherLabs("") }
