package lab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// runDHCPClient is the lab's plain DHCP client (role "dhcp"), for tests and the demo:
// it brings IFACE up, gets one lease with nclient4 (retransmitting every second until
// --timeout), applies address and default route with netlink and prints
// "lease ADDR/LEN router GW" ("router none" without router option). It refuses to run in
// the host's network namespace.
func runDHCPClient(args []string) error {
	fs := flag.NewFlagSet("dhcp", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 20*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: [--timeout D] IFACE")
	}
	if err := refuseHostNS(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	iface := fs.Arg(0)
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("link %s: %w", iface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring %s up: %w", iface, err)
	}
	waitRunning(iface, 2*time.Second)
	lease, err := requestLease(ctx, iface)
	if err != nil {
		return err
	}
	return applyLease(link, lease)
}

// waitRunning waits (at most d) until the link is operationally up: frames sent before
// the kernel's link watch activates the queue are dropped, which costs a 1 s retransmit.
func waitRunning(iface string, d time.Duration) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l, err := netlink.LinkByName(iface)
		if err == nil && l.Attrs().OperState == netlink.OperUp {
			return
		}
	}
}

func refuseHostNS() error {
	want := os.Getenv(envHostNS)
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return fmt.Errorf("stat own netns: %w", err)
	}
	if want == "" || want == fmt.Sprintf("%d:%d", st.Dev, st.Ino) {
		return errors.New("refusing to send lab traffic from the host network namespace")
	}
	return nil
}

func requestLease(ctx context.Context, iface string) (*nclient4.Lease, error) {
	c, err := nclient4.New(iface, nclient4.WithTimeout(time.Second), nclient4.WithRetry(1))
	if err != nil {
		return nil, fmt.Errorf("dhcp client on %s: %w", iface, err)
	}
	defer c.Close()
	for {
		lease, err := c.Request(ctx)
		if err == nil {
			return lease, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no dhcp lease on %s: %w", iface, err)
		}
	}
}

func applyLease(link netlink.Link, lease *nclient4.Lease) error {
	ack := lease.ACK
	mask := ack.SubnetMask()
	if mask == nil {
		return fmt.Errorf("lease %s: no subnet mask", ack.YourIPAddr)
	}
	ipn := &net.IPNet{IP: ack.YourIPAddr, Mask: mask}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipn}); err != nil {
		return fmt.Errorf("add %s: %w", ipn, err)
	}
	ones, _ := mask.Size()
	gw := "none"
	if rs := ack.Router(); len(rs) > 0 {
		gw = rs[0].String()
		rt := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: rs[0]}
		if err := netlink.RouteReplace(rt); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	fmt.Printf("lease %s/%s router %s\n", ack.YourIPAddr, strconv.Itoa(ones), gw)
	return nil
}
