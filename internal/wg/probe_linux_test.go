package wg

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProbeResult: only "unknown link kind" (EOPNOTSUPP) means no kernel WireGuard;
// every other failure is reported as itself, so a test skips only on a missing feature.
func TestProbeResult(t *testing.T) {
	for _, c := range []struct {
		err      error
		ok       bool
		noKernel bool
		says     string
	}{
		{err: nil, ok: true},
		{err: unix.EEXIST, ok: true},
		{err: unix.EOPNOTSUPP, noKernel: true, says: "not supported"},
		{err: fmt.Errorf("netlink: %w", unix.EOPNOTSUPP), noKernel: true, says: "wgp1"},
		{err: unix.EPERM, says: "operation not permitted"},
		{err: unix.ENOMEM, says: "cannot allocate memory"},
		{err: unix.EINVAL, says: "invalid argument"},
	} {
		got := probeResult("wgp1", c.err)
		if (got == nil) != c.ok || errors.Is(got, ErrNoKernel) != c.noKernel {
			t.Errorf("%v: got %v (no kernel %v), want ok %v, no kernel %v", c.err, got, errors.Is(got, ErrNoKernel), c.ok, c.noKernel)
		}
		if c.says != "" && (got == nil || !strings.Contains(got.Error(), c.says) || !strings.Contains(got.Error(), "wgp1")) {
			t.Errorf("%v: %v does not name the cause %q and the link", c.err, got, c.says)
		}
		if c.err != nil && !c.ok && !errors.Is(got, c.err) && !c.noKernel {
			t.Errorf("%v: cause not wrapped: %v", c.err, got)
		}
	}
}
