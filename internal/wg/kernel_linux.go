package wg

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// kernelDev is a kernel WireGuard link: created in the socket namespace (where its UDP
// socket stays for its whole life) and then moved into the link namespace.
type kernelDev struct {
	name   string
	index  int
	linkNS *netns.NS
	mu     sync.Mutex
	closed bool
}

// Probe reports whether the kernel in ns can create WireGuard links: it adds and
// deletes a throwaway link. The error wraps ErrNoKernel only when the kernel does not
// know the link type (no module); any other failure (no permission, no memory, a
// namespace gone) is returned as itself, naming the link it tried.
func Probe(ns *netns.NS) error {
	h, err := link.Handle(ns)
	if err != nil {
		return fmt.Errorf("probe wireguard: %w", err)
	}
	defer h.Close()
	name := fmt.Sprintf("wgp%d", unix.Gettid()%1000000)
	err = h.LinkAdd(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: name}})
	if err != nil {
		return probeResult(name, err)
	}
	if l, err := h.LinkByName(name); err == nil {
		h.LinkDel(l)
	}
	return nil
}

// probeResult classifies the error of adding probe link name: EEXIST is success (a
// concurrent probe holds the name), EOPNOTSUPP (rtnetlink's "unknown link kind") is
// ErrNoKernel, anything else is the real cause.
func probeResult(name string, err error) error {
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		return nil
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: add link %s: %v", ErrNoKernel, name, err)
	default:
		return fmt.Errorf("probe wireguard: add link %s: %w", name, err)
	}
}

func newKernel(o Options) (Device, error) {
	sh, err := link.Handle(o.SockNS)
	if err != nil {
		return nil, fmt.Errorf("kernel wireguard %s: %w", o.Name, err)
	}
	defer sh.Close()
	la := netlink.LinkAttrs{Name: o.Name, MTU: o.MTU, Namespace: netlink.NsFd(o.LinkNS.Fd())}
	if err := sh.LinkAdd(&netlink.Wireguard{LinkAttrs: la}); err != nil {
		return nil, fmt.Errorf("kernel wireguard %s: add link: %w", o.Name, err)
	}
	lh, err := link.Handle(o.LinkNS)
	if err != nil {
		return nil, fmt.Errorf("kernel wireguard %s: %w", o.Name, err)
	}
	defer lh.Close()
	l, err := lh.LinkByName(o.Name)
	if err != nil {
		return nil, fmt.Errorf("kernel wireguard %s: find link: %w", o.Name, err)
	}
	return &kernelDev{name: o.Name, index: l.Attrs().Index, linkNS: o.LinkNS}, nil
}

func (k *kernelDev) Name() string { return k.name }
func (k *kernelDev) Kind() Kind   { return Kernel }
func (k *kernelDev) Index() int   { return k.index }

// client runs fn with a wgctrl client whose generic-netlink socket lives in the link
// namespace (the socket is bound to the namespace it was opened in).
func (k *kernelDev) client(fn func(c *wgctrl.Client) error) error {
	var c *wgctrl.Client
	if err := k.linkNS.Do(func() (e error) { c, e = wgctrl.New(); return e }); err != nil {
		return fmt.Errorf("wgctrl in %s: %w", k.linkNS.Path(), err)
	}
	defer c.Close()
	return fn(c)
}

// Configure applies cfg with wgctrl.
func (k *kernelDev) Configure(cfg wgtypes.Config) error {
	return k.client(func(c *wgctrl.Client) error { return c.ConfigureDevice(k.name, cfg) })
}

// Device reads the device with wgctrl.
func (k *kernelDev) Device() (d *wgtypes.Device, err error) {
	err = k.client(func(c *wgctrl.Client) error { d, err = c.Device(k.name); return err })
	return d, err
}

// Release forgets the device and leaves the kernel link running.
func (k *kernelDev) Release() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	return nil
}

// Adopt takes over an existing kernel WireGuard link named o.Name in o.LinkNS (left
// running by a previous networkd). It fails if there is none or it is not WireGuard.
func Adopt(o Options) (Device, error) {
	h, err := link.Handle(o.LinkNS)
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %w", o.Name, err)
	}
	defer h.Close()
	l, err := h.LinkByName(o.Name)
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %w", o.Name, err)
	}
	if l.Type() != "wireguard" {
		return nil, fmt.Errorf("adopt %s: link is %s, not wireguard", o.Name, l.Type())
	}
	return &kernelDev{name: o.Name, index: l.Attrs().Index, linkNS: o.LinkNS}, nil
}

// Close deletes the link; a link already gone is success.
func (k *kernelDev) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	h, err := link.Handle(k.linkNS)
	if err != nil {
		return fmt.Errorf("delete kernel wireguard %s: %w", k.name, err)
	}
	defer h.Close()
	err = h.LinkDel(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Index: k.index}})
	if err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete kernel wireguard %s: %w", k.name, err)
	}
	return nil
}

// Create makes a device as o says. With Kind Auto it probes the socket namespace and
// picks the kernel when it can, else wireguard-go.
func Create(o Options) (Device, error) {
	if len(o.Name) == 0 || len(o.Name) > 15 {
		return nil, fmt.Errorf("wireguard link name %q: want 1..15 bytes", o.Name)
	}
	kind := o.Kind
	if kind == Auto {
		kind = Userspace
		if Probe(o.SockNS) == nil {
			kind = Kernel
		}
	}
	if kind == Kernel {
		return newKernel(o)
	}
	return newUserspace(o)
}
