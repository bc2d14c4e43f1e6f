package lab

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// CheckResult is the outcome of one connectivity check.
type CheckResult struct {
	Name   string        `json:"name"`
	Err    error         `json:"-"`
	Detail string        `json:"detail"`
	Took   time.Duration `json:"took"`
}

// OK reports whether the check passed.
func (r CheckResult) OK() bool { return r.Err == nil }

// classes holds what the checks learn as they go (addresses from leases and SLAAC).
type classes struct {
	l                   *Lab
	farm1, home1, home2 netip.Prefix
	farm1v6, home6v6    netip.Prefix
}

type check struct {
	name string
	fn   func(ctx context.Context) (string, error)
}

// registry addresses in the default farm.
var (
	registry4 = netip.MustParseAddr("198.51.100.10")
	registry6 = netip.MustParseAddr("2001:db8::10")
)

// CheckClasses runs the seed's connectivity classes on a default-farm lab, with a plain
// DHCP client and SLAAC inside the nodes, and calls report after each check. It changes
// the nodes (addresses on farm1, home1, home2, home6): run it on a lab without node
// services. It returns the number of failed checks.
func (l *Lab) CheckClasses(ctx context.Context, report func(CheckResult)) int {
	c := &classes{l: l}
	failed := 0
	for _, ch := range c.list() {
		t := time.Now()
		detail, err := ch.fn(ctx)
		r := CheckResult{Name: ch.name, Err: err, Detail: detail, Took: time.Since(t)}
		if err != nil {
			failed++
			r.Detail = err.Error()
		}
		report(r)
	}
	return failed
}

func (c *classes) list() []check {
	const t = 15 * time.Second
	l := c.l
	return []check{
		{"farm1 OOB NIC gets a private DHCP lease with a gateway", func(ctx context.Context) (string, error) {
			a, gw, err := l.Lease(ctx, "farm1", "eth0", t)
			c.farm1 = a
			if err == nil && (!a.Addr().IsPrivate() || !gw.IsValid()) {
				err = fmt.Errorf("lease %s router %s: want a private address and a gateway", a, gw)
			}
			return fmt.Sprintf("%s via %s", a, gw), err
		}},
		{"farm1 reaches the registry through the farm's NAT", func(ctx context.Context) (string, error) {
			return "farm1 -> " + registry4.String(), l.Ping(ctx, "farm1", registry4, 5*time.Second)
		}},
		{"farm1 PUBLIC NIC gets a SLAAC address and default route", func(ctx context.Context) (string, error) {
			a, err := l.SLAAC(ctx, "farm1", "eth1", t)
			c.farm1v6 = a
			return a.String(), err
		}},
		{"the internet reaches farm1's public IPv6 (not firewalled)", func(ctx context.Context) (string, error) {
			return "user -> " + c.farm1v6.Addr().String(), l.Ping(ctx, "user", c.farm1v6.Addr(), 5*time.Second)
		}},
		{"home1 and home2 get leases behind homegw", func(ctx context.Context) (string, error) {
			var err1, err2 error
			c.home1, _, err1 = l.Lease(ctx, "home1", "eth0", t)
			c.home2, _, err2 = l.Lease(ctx, "home2", "eth0", t)
			if err1 != nil {
				return "", err1
			}
			return fmt.Sprintf("home1 %s, home2 %s", c.home1, c.home2), err2
		}},
		{"home1 and home2 reach the internet through NAT", func(ctx context.Context) (string, error) {
			if err := l.Ping(ctx, "home1", registry4, 5*time.Second); err != nil {
				return "", err
			}
			return "home1, home2 -> " + registry4.String(), l.Ping(ctx, "home2", registry4, 5*time.Second)
		}},
		{"the internet cannot reach home1, even routed at homegw", func(ctx context.Context) (string, error) {
			if err := l.NoPing(ctx, "user", c.home1.Addr()); err != nil {
				return "", err
			}
			err := l.WithRoute("user", c.home1.Masked().String(), "198.51.100.3", func() error {
				return l.NoPing(ctx, "user", c.home1.Addr())
			})
			return "user -/-> " + c.home1.Addr().String() + " (also via 198.51.100.3)", err
		}},
		{"home1 and home2 see each other on their LAN", func(ctx context.Context) (string, error) {
			return "home1 -> " + c.home2.Addr().String(), l.Ping(ctx, "home1", c.home2.Addr(), 5*time.Second)
		}},
		{"home6 gets a lease and SLAAC, reaches the internet over IPv6", func(ctx context.Context) (string, error) {
			if _, _, err := l.Lease(ctx, "home6", "eth0", t); err != nil {
				return "", err
			}
			a, err := l.SLAAC(ctx, "home6", "eth0", t)
			c.home6v6 = a
			if err != nil {
				return "", err
			}
			return a.String() + " -> " + registry6.String(), l.Ping(ctx, "home6", registry6, 5*time.Second)
		}},
		{"the internet cannot reach home6's IPv6 (stateful firewall)", func(ctx context.Context) (string, error) {
			return "user -/-> " + c.home6v6.Addr().String(), l.NoPing(ctx, "user", c.home6v6.Addr())
		}},
	}
}
