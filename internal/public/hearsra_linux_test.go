package public

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// TestHearsRASolicits: probing a free NIC for a router solicits one. The node's NIC
// sends no solicitation of its own (router_solicitations=0: a NIC already up has spent
// them) and the router answers solicitations only, never unsolicited (a real router
// sends those minutes apart): the probe hears the answer within a moment, the router
// counted our solicitations, and against a router that never answers the probe says so
// after its timeout.
func TestHearsRASolicits(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	for _, tt := range []struct {
		name   string
		answer bool
	}{{"router answers", true}, {"router silent", false}} {
		t.Run(tt.name, func(t *testing.T) {
			node, router := testkit.NewNS(t), testkit.NewNS(t)
			// the router's link-local address usable at once (no DAD)
			if err := link.Set(router, link.IPv6("default", link.Sysctls{"accept_dad": "0"})); err != nil {
				t.Fatal(err)
			}
			testkit.Underlay(t, node, router, 1500)
			// disable_ipv6 first (sorted keys): it cancels what the kernel started at link-up
			if err := link.Set(node, link.IPv6("ua", link.Sysctls{"disable_ipv6": "1", "router_solicitations": "0"})); err != nil {
				t.Fatal(err)
			}
			var heard atomic.Int32
			ctx, cancel := context.WithCancel(context.Background())
			done, ready := make(chan struct{}), make(chan struct{})
			t.Cleanup(func() { cancel(); <-done })
			go func() {
				defer close(done)
				answerRS(ctx, t, router, "ub", tt.answer, &heard, ready)
			}()
			select {
			case <-ready:
			case <-done:
				t.FailNow() // answerRS said why
			}
			h := testkit.Handle(t, node)
			l, err := h.LinkByName("ua")
			if err != nil {
				t.Fatal(err)
			}
			timeout := 3 * time.Second
			if !tt.answer {
				timeout = 1500 * time.Millisecond
			}
			t0 := time.Now()
			ok, why := hearsRA(context.Background(), h, node, l, timeout)
			took := time.Since(t0)
			t.Logf("%s: %v (%s) after %v; the router heard %d solicitations", tt.name, ok, why, took.Round(time.Millisecond), heard.Load())
			if ok != tt.answer {
				t.Fatalf("hearsRA = %v (%s), want %v", ok, why, tt.answer)
			}
			if heard.Load() == 0 {
				t.Fatal("the router heard no router solicitation during the probe")
			}
			if !tt.answer && took < timeout {
				t.Fatalf("gave up after %v, want the whole timeout %v", took, timeout)
			}
		})
	}
}

// answerRS is a router on link ifname in ns that sends no unsolicited advertisement:
// it counts the router solicitations it hears and, with answer, answers each with an
// RA (default router, a /64 on link) to all nodes, until ctx ends. It closes ready
// once it listens.
func answerRS(ctx context.Context, t *testing.T, ns *netns.NS, ifname string, answer bool, heard *atomic.Int32, ready chan<- struct{}) {
	var c *ndp.Conn
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := ns.Do(func() error {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				return err
			}
			c, err = link.ListenNDP(ifi, ndp.LinkLocal)
			return err
		})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("router socket on %s: %v", ifname, err)
			return
		}
		time.Sleep(50 * time.Millisecond) // no link-local address yet
	}
	defer c.Close()
	if err := c.JoinGroup(netip.MustParseAddr("ff02::2")); err != nil {
		t.Errorf("join all-routers: %v", err)
		return
	}
	go func() { <-ctx.Done(); c.SetReadDeadline(time.Now()) }()
	close(ready)
	ra := &ndp.RouterAdvertisement{CurrentHopLimit: 64, RouterLifetime: 30 * time.Minute, Options: []ndp.Option{
		&ndp.PrefixInformation{PrefixLength: 64, OnLink: true, ValidLifetime: time.Hour, PreferredLifetime: time.Hour,
			Prefix: netip.MustParseAddr("2001:db8:77::")},
	}}
	for {
		m, _, _, err := c.ReadFrom()
		if err != nil {
			return // ctx ended
		}
		if _, ok := m.(*ndp.RouterSolicitation); !ok {
			continue
		}
		heard.Add(1)
		if answer {
			if err := c.WriteTo(ra, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
				t.Errorf("send RA: %v", err)
			}
		}
	}
}
