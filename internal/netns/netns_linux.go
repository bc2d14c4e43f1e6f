// Package netns is the one place in zosnet that switches network namespaces.
//
// Everything else either opens handles inside a namespace (netlink.NewHandleAt,
// nftables.WithNetNSFd) from a *NS, or calls Do, which runs a function on a locked OS
// thread that has joined the namespace and is restored afterwards. A thread whose
// restore fails is never unlocked, so the Go runtime retires it instead of reusing a
// thread stuck in the wrong namespace (containernetworking/plugins pkg/ns does the same).
//
// Named namespaces follow iproute2's convention: a bind mount of the namespace file at
// <dir>/<name> (dir is /run/netns by default). Create and Delete are idempotent.
// All functions are safe for concurrent use. Never start goroutines inside Do: they run
// on other threads, in whatever namespace those happen to be in.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultDir is where named network namespaces live, as with `ip netns`.
const DefaultDir = "/run/netns"

// ErrNotExist is returned (wrapped) when a named namespace does not exist.
var ErrNotExist = errors.New("network namespace does not exist")

// NS is an open network namespace. The zero value is not usable; get one from Open,
// Current or Create. Close releases the file descriptor; the namespace itself lives on
// as long as something (a bind mount, a process, another fd) holds it.
type NS struct {
	f    *os.File
	path string
}

// Open opens the namespace file at path (a bind mount or /proc/PID/ns/net).
func Open(path string) (*NS, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open netns %s: %w", path, ErrNotExist)
		}
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("statfs netns %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		f.Close()
		return nil, fmt.Errorf("open netns %s: not a namespace file", path)
	}
	return &NS{f: f, path: path}, nil
}

// OpenNamed opens the named namespace in dir ("" means DefaultDir).
func OpenNamed(dir, name string) (*NS, error) {
	return Open(filepath.Join(dirOr(dir), name))
}

// Current opens the namespace of the calling thread.
func Current() (*NS, error) {
	return Open(threadNSPath())
}

// Fd returns the namespace file descriptor (valid until Close).
func (n *NS) Fd() int { return int(n.f.Fd()) }

// Path returns the path the namespace was opened from.
func (n *NS) Path() string { return n.path }

// Close releases the file descriptor. It is safe to call more than once.
func (n *NS) Close() error {
	if n == nil || n.f == nil {
		return nil
	}
	err := n.f.Close()
	n.f = nil
	return err
}

// Inode identifies the namespace: two NS with the same Inode are the same namespace.
func (n *NS) Inode() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(n.Fd(), &st); err != nil {
		return 0, fmt.Errorf("stat netns %s: %w", n.path, err)
	}
	return st.Ino, nil
}

// Do runs fn on a locked OS thread that has joined n, then switches the thread back.
// fn must not start goroutines that expect to be in n.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := Current()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(n.Fd(), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", n.path, err)
	}
	ferr := fn()
	if err := unix.Setns(orig.Fd(), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime kills it when this goroutine exits.
		return errors.Join(ferr, fmt.Errorf("return from netns %s: %w", n.path, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Create makes a new named network namespace in dir ("" means DefaultDir) and returns
// it open. If one with that name already exists it is opened instead (idempotent).
// The calling goroutine's namespace is not changed.
func Create(dir, name string) (*NS, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	dir = dirOr(dir)
	p := filepath.Join(dir, name)
	if ns, err := Open(p); err == nil {
		return ns, nil
	}
	if err := ensureSharedDir(dir); err != nil {
		return nil, err
	}
	if err := createAt(p); err != nil {
		return nil, err
	}
	return Open(p)
}

// createAt unshares a new netns on a locked thread, bind-mounts it at p and restores the
// thread. Any half-made file is removed on failure.
func createAt(p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file %s: %w", p, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := Current()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		merr := unix.Mount(threadNSPath(), p, "none", unix.MS_BIND, "")
		if err := unix.Setns(orig.Fd(), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(merr, fmt.Errorf("restore thread netns: %w", err))
			return // thread stays locked and dies
		}
		runtime.UnlockOSThread()
		if merr != nil {
			merr = fmt.Errorf("bind-mount netns at %s: %w", p, merr)
		}
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// Delete removes the named namespace: detaches the bind mount and unlinks the file
// (unmounting alone keeps the name around). A missing namespace is success. Bind
// mounts stacked on the file (made twice, or again by someone racing with us) are peeled
// off one by one: unlink answers EBUSY while any is left.
func Delete(dir, name string) error {
	p := filepath.Join(dirOr(dir), name)
	for attempt := 0; ; attempt++ {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount netns %s: %w", p, err)
		}
		err := os.Remove(p)
		switch {
		case err == nil, errors.Is(err, os.ErrNotExist):
			return nil
		case errors.Is(err, unix.EBUSY) && attempt < 8:
			continue
		default:
			return fmt.Errorf("remove netns file %s: %w", p, err)
		}
	}
}

// List returns the names of the named namespaces in dir ("" means DefaultDir).
func List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dirOr(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list netns: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// ValidName checks a namespace name: non-empty, at most 64 bytes, no '/', not . or ..
func ValidName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("netns name %q: must be a plain file name", name)
	case len(name) > 64:
		return fmt.Errorf("netns name %q: longer than 64 bytes", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("netns name %q: contains '/' or NUL", name)
	}
	return nil
}

// ensureSharedDir makes dir a shared mount point, as iproute2 does, so that namespaces
// mounted later in it propagate to other mount namespaces that share it.
func ensureSharedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	// Not a mount point yet: bind it onto itself, then make it shared.
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s onto itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	return nil
}

func dirOr(dir string) string {
	if dir == "" {
		return DefaultDir
	}
	return dir
}

func threadNSPath() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
}

// IsInit reports whether the calling thread is in the network namespace of the
// outermost process this one can see: PID 1 when its namespace is readable, else the
// topmost ancestor whose namespace is (sandboxes often hide PID 1's). From a test or a
// lab command that is the host's namespace, whose uplink must never carry lab traffic:
// tests call it and refuse to send when it is true. A process inside a lab node (whose
// private /run holds the lab's node marker, internal/lab.NodeMarker) is never the host,
// even though the node's PID 1 shares its namespace.
func IsInit() (bool, error) {
	if _, err := os.Stat(labNodeMarker); err == nil {
		return false, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var self unix.Stat_t
	if err := unix.Stat(threadNSPath(), &self); err != nil {
		return false, fmt.Errorf("stat own netns: %w", err)
	}
	host, err := outermostNS()
	if err != nil {
		return false, err
	}
	return self.Ino == host.Ino && self.Dev == host.Dev, nil
}

// labNodeMarker mirrors internal/lab.NodeMarker (netns must not import the lab).
const labNodeMarker = "/run/zoslab-node"

func outermostNS() (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/1/ns/net", &st); err == nil {
		return st, nil
	}
	pid := os.Getpid()
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return st, fmt.Errorf("stat process netns: %w", err)
	}
	for pid > 1 {
		pid = parentPID(pid)
		var up unix.Stat_t
		if pid <= 1 || unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &up) != nil {
			break
		}
		st = up
	}
	return st, nil
}

func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	var ppid int
	fmt.Sscan(f[1], &ppid)
	return ppid
}
