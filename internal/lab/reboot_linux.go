package lab

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// Reboot power-cycles a node: its holder and every process in it are killed, its
// namespaces (and with them its NICs' links and whatever its software made) vanish, then
// a fresh holder starts with the same NICs (same MACs and carrier) and the same state
// directory, and, when o.Boot is set, the node's boot services run again (o.BinDir and
// o.BootTimeout as for Up; o.Name is ignored). Addresses, bridges and namespaces made by
// the node's software are gone, as on real hardware; its state directory survives.
func (l *Lab) Reboot(ctx context.Context, node string, o Options) error {
	n := l.st.Spec.node(node)
	if n == nil {
		return fmt.Errorf("reboot: no node %q", node)
	}
	o.Name = l.name
	if err := o.defaults(); err != nil {
		return err
	}
	if n.IsVM() {
		return l.rebootVM(ctx, n, o) // vmholder_linux.go
	}
	if err := l.powerOff(ctx, node); err != nil {
		return fmt.Errorf("reboot %s: %w", node, err)
	}
	if err := l.powerOn(n); err != nil {
		return fmt.Errorf("reboot %s: %w", node, err)
	}
	if err := l.save(); err != nil {
		return err
	}
	if o.Boot {
		return l.bootNode(ctx, o, *n)
	}
	return nil
}

// powerOff kills the node's holder (its PID namespace dies with it) and waits until the
// switch ports of its NICs are gone, so that they can be made again.
func (l *Lab) powerOff(ctx context.Context, node string) error {
	pid := l.st.Holders[node]
	if pid > 0 && isLabProc(pid, l.name) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	delete(l.st.Holders, node)
	if err := poll(ctx, 10*time.Second, func() bool { return pid == 0 || !isLabProc(pid, l.name) }); err != nil {
		return fmt.Errorf("holder %d does not exit: %w", pid, err)
	}
	return l.waitPortsGone(ctx, l.st.Spec.node(node))
}

// waitPortsGone waits until the switch ports of a node's NICs are gone (the node died),
// so that they can be made again. Every process of the node is gone by then, but the
// kernel tears a dead namespace down in the background, one at a time machine-wide, and
// on a busy machine that can take longer than a power cycle should: a port still there
// after portGrace is unplugged (deleting the switch end takes the node's end with it).
func (l *Lab) waitPortsGone(ctx context.Context, n *Node) error {
	for i, c := range n.NICs {
		sw, err := openNSH(switchNS(l.name, c.Segment), l.switchPath(c.Segment))
		if err != nil {
			return err
		}
		port := nodePort(n.Name, i)
		gone := func() bool {
			_, err := sw.h.LinkByName(port)
			return errors.As(err, new(netlink.LinkNotFoundError))
		}
		if poll(ctx, portGrace, gone) != nil {
			if lk, err := sw.h.LinkByName(port); err == nil {
				sw.h.LinkDel(lk) // unplugged; gone is checked below either way
			}
			err = poll(ctx, 10*time.Second, gone)
		}
		sw.close()
		if err != nil {
			return fmt.Errorf("switch port %s stays after the node died: %w", port, err)
		}
	}
	return nil
}

// portGrace is how long a dead node's switch ports may take to vanish by themselves
// before waitPortsGone unplugs them.
const portGrace = 2 * time.Second

// powerOn starts a fresh holder for the node and plugs its NICs in again.
func (l *Lab) powerOn(n *Node) error {
	pid, err := startHolder(l.name, n.Name, l.NodeDir(n.Name))
	if err != nil {
		return err
	}
	l.st.Holders[n.Name] = pid
	b := &builder{l: l, nss: map[string]*nsh{}}
	defer b.close()
	if b.host, err = hostHandle(); err != nil {
		return err
	}
	h, err := openNSH(n.Name, l.NSPath(n.Name))
	if err != nil {
		return err
	}
	b.nss[n.Name] = h
	if err := h.sysctls(nodeSysctls()); err != nil {
		return err
	}
	for i, c := range n.NICs {
		key := "s-" + c.Segment
		if b.nss[key] == nil {
			if b.nss[key], err = openNSH(switchNS(l.name, c.Segment), l.switchPath(c.Segment)); err != nil {
				return err
			}
		}
		carrier, ok := l.st.Carrier[n.Name+"/"+c.Name]
		if !ok {
			carrier = *c.Carrier
		}
		g := l.st.Spec.segment(c.Segment)
		if err := veth(b.host, h, c.Name, c.MAC, b.nss[key], nodePort(n.Name, i), g.MTU, carrier); err != nil {
			return err
		}
	}
	return nil
}
