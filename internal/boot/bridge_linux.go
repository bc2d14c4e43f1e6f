package boot

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// ensureBridge makes bridge zos with nic as its port and nic's MAC as its own, both up.
// Idempotent: an existing zos bridge is reused (an existing zos of another type is an
// error); a bridge created here is removed again if a later step fails.
func ensureBridge(h *netlink.Handle, nic netlink.Link) (br netlink.Link, err error) {
	br, created, err := bridgeLink(h, nic.Attrs().HardwareAddr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && created {
			h.LinkDel(br)
		}
	}()
	if !bytes.Equal(br.Attrs().HardwareAddr, nic.Attrs().HardwareAddr) {
		if err := h.LinkSetHardwareAddr(br, nic.Attrs().HardwareAddr); err != nil {
			return nil, fmt.Errorf("bridge %s: take MAC %s of %s: %w", Bridge, nic.Attrs().HardwareAddr, nic.Attrs().Name, err)
		}
	}
	if nic.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.LinkSetMasterByIndex(nic, br.Attrs().Index); err != nil {
			return nil, fmt.Errorf("bridge %s: enslave %s: %w", Bridge, nic.Attrs().Name, err)
		}
	}
	if err := flushIPv4(h, nic); err != nil {
		return nil, err
	}
	for _, l := range []netlink.Link{nic, br} {
		if err := h.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
		}
	}
	return h.LinkByName(Bridge)
}

// bridgeLink returns bridge zos, creating it with mac when missing.
func bridgeLink(h *netlink.Handle, mac []byte) (netlink.Link, bool, error) {
	if l, err := h.LinkByName(Bridge); err == nil {
		return checkBridge(l)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: Bridge, HardwareAddr: mac}}
	err := h.LinkAdd(br)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, false, fmt.Errorf("create bridge %s: %w", Bridge, err)
	}
	l, lerr := h.LinkByName(Bridge)
	if lerr != nil {
		return nil, false, fmt.Errorf("create bridge %s: %w", Bridge, lerr)
	}
	l, _, cerr := checkBridge(l)
	return l, err == nil, cerr
}

func checkBridge(l netlink.Link) (netlink.Link, bool, error) {
	if l.Type() != "bridge" {
		return nil, false, fmt.Errorf("link %s exists and is a %s, not a bridge: remove it", Bridge, l.Type())
	}
	return l, false, nil
}

// enableSLAAC makes the bridge accept router advertisements and autoconfigure IPv6
// addresses, also if forwarding gets enabled later (accept_ra=2). ns nil is the calling
// thread's namespace.
func enableSLAAC(ns *netns.NS, iface string) error {
	return link.Set(ns, link.IPv6(iface, link.Sysctls{"disable_ipv6": "0", "accept_ra": "2", "autoconf": "1", "accept_ra_defrtr": "1"}))
}

// flushIPv4 removes IPv4 addresses from a bridge port (left by an earlier boot or by
// hand): the address belongs on the bridge.
func flushIPv4(h *netlink.Handle, l netlink.Link) error {
	addrs, err := h.AddrList(l, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	for _, a := range addrs {
		if err := h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove %s from bridge port %s: %w", a.IPNet, l.Attrs().Name, err)
		}
	}
	return nil
}
