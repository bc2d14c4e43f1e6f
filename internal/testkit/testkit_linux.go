// Package testkit is the shared kit of zosnet's tests: a root gate that never skips in
// CI, a fresh throwaway network namespace per test, a leak check that fails a test which
// leaves namespaces, links, mounts, WireGuard sockets or processes behind, and the
// scaffolding root tests share (a netlink handle, a veth underlay between two
// namespaces, ping, the kernel's `nft list table`), plus golden files for the middle
// tier of tests: a whole rendered ruleset diffed with testdata, rewritten with -update.
//
// Use it as:
//
//	func TestX(t *testing.T) {
//		testkit.RequireRoot(t)
//		testkit.LeakCheck(t)     // first, so its check runs after every other cleanup
//		ns := testkit.NewNS(t)
//		...
//	}
//
// The leak check compares machine-wide state, so tests that use it must not run in
// parallel with other root tests (the Makefile runs packages one at a time: -p 1).
package testkit

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/zosnet/zosnet/internal/netns"
)

// InCI reports whether the tests run in CI (CI=true), where root tests must run.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireRoot fails the test in CI when not root, and skips it elsewhere.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		// Root tests and benchmarks make kernel objects: they take the machine-wide test
		// lock too (not only leak-checked ones), so an in-process benchmark never shows
		// up in another suite's leak check.
		lockMachine(t)
		return
	}
	if InCI() {
		t.Fatal("root test: CI=true but not running as root; run the suite as root")
	}
	t.Skip("root test: needs root (run `sudo make test`); never skipped in CI")
}

// MissingKernelFeature skips the test, naming the feature this kernel lacks. It is the one
// reason a root test may skip in CI; call it only after probing for the feature.
func MissingKernelFeature(t testing.TB, feature string, probeErr error) {
	t.Helper()
	t.Skipf("kernel feature missing on this machine: %s (probe: %v)", feature, probeErr)
}

var nsSeq atomic.Int64

// Name returns a name unique to this test process, at most 15 bytes: prefix (≤5 bytes)
// + pid + sequence. Use it for host-visible objects (links, namespaces) a test creates.
func Name(prefix string) string {
	if len(prefix) > 5 {
		prefix = prefix[:5]
	}
	n := fmt.Sprintf("%s%x%x", prefix, os.Getpid()&0xffff, nsSeq.Add(1))
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// NewNS creates a throwaway named network namespace with lo up and returns it open.
// It is deleted when the test ends, also when the test fails.
func NewNS(t testing.TB) *netns.NS {
	t.Helper()
	name := Name("zt")
	ns, err := netns.Create("", name)
	if err != nil {
		t.Fatalf("create test netns: %v", err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.Delete("", name); err != nil {
			t.Errorf("delete test netns %s: %v", name, err)
		}
	})
	h, err := netlink.NewHandleAt(nsHandle(ns))
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bring lo up in %s: %v", name, err)
	}
	return ns
}

// RefuseInit fails the test if the calling thread is in the host's network namespace.
// Call it (inside ns.Do, or in a process entered into a lab node) before sending any lab
// traffic: lab addresses must never reach the machine's real uplink.
func RefuseInit(t testing.TB) {
	t.Helper()
	host, err := netns.IsInit()
	if err != nil {
		t.Fatalf("check namespace before sending lab traffic: %v", err)
	}
	if host {
		t.Fatal("refusing to send lab traffic from the host network namespace")
	}
}
