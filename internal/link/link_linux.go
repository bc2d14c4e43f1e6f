package link

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
)

// Handle opens a netlink handle inside ns (nil: the calling thread's namespace); the
// caller closes it.
func Handle(ns *netns.NS) (*netlink.Handle, error) {
	if ns == nil {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		return h, nil
	}
	h, err := netlink.NewHandleAt(vnetns.NsHandle(ns.Fd()))
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", ns.Path(), err)
	}
	return h, nil
}

// Handles opens a handle in a and one in b (both or neither); the caller closes both.
func Handles(a, b *netns.NS) (*netlink.Handle, *netlink.Handle, error) {
	ha, err := Handle(a)
	if err != nil {
		return nil, nil, err
	}
	hb, err := Handle(b)
	if err != nil {
		ha.Close()
		return nil, nil, err
	}
	return ha, hb, nil
}

// IsExist reports whether err is the kernel's "already exists".
func IsExist(err error) bool { return errors.Is(err, unix.EEXIST) }

// IsNotFound reports whether err says a link does not exist.
func IsNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// Ensure adds l with h; an existing link of the same name and type is success, one of
// another type is an error. The returned link is re-fetched, so its attributes are the
// kernel's.
func Ensure(h *netlink.Handle, l netlink.Link) (netlink.Link, error) {
	name := l.Attrs().Name
	if err := h.LinkAdd(l); err != nil && !IsExist(err) {
		return nil, fmt.Errorf("add %s %s: %w", l.Type(), name, err)
	}
	got, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", name, err)
	}
	if got.Type() != l.Type() {
		return nil, fmt.Errorf("link %s exists as %s, want %s", name, got.Type(), l.Type())
	}
	return got, nil
}

// Delete removes link name; a link that does not exist is success.
func Delete(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil
	}
	if err := h.LinkDel(l); err != nil && !IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// FixHalfVeth deletes veth end name (in h) when its peer peerName is missing from peerH:
// the peer's namespace was deleted and recreated behind our back, or a crash came
// between the two halves. A following Ensure then makes the pair whole again.
func FixHalfVeth(h, peerH *netlink.Handle, name, peerName string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil
	}
	if _, err := peerH.LinkByName(peerName); err == nil {
		return nil
	}
	if err := h.LinkDel(l); err != nil && !IsNotFound(err) {
		return fmt.Errorf("delete half veth %s: %w", name, err)
	}
	return nil
}

// SetMaster makes l a port of br unless it already is.
func SetMaster(h *netlink.Handle, l, br netlink.Link) error {
	if l.Attrs().MasterIndex == br.Attrs().Index {
		return nil
	}
	if err := h.LinkSetMaster(l, br); err != nil {
		return fmt.Errorf("attach %s to %s: %w", l.Attrs().Name, br.Attrs().Name, err)
	}
	return nil
}

// SetMTUUp sets l's MTU (when it differs) and brings l up.
func SetMTUUp(h *netlink.Handle, l netlink.Link, mtu int) error {
	if l.Attrs().MTU != mtu {
		if err := h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set mtu %d on %s: %w", mtu, l.Attrs().Name, err)
		}
	}
	return Up(h, l)
}

// Up brings l up.
func Up(h *netlink.Handle, l netlink.Link) error {
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

// UpByName brings the links named up, in order.
func UpByName(h *netlink.Handle, names ...string) error {
	for _, name := range names {
		l, err := h.LinkByName(name)
		if err == nil {
			err = h.LinkSetUp(l)
		}
		if err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
	}
	return nil
}

// ReplaceAddrs puts each prefix on l (replace: re-running is a no-op), without duplicate
// address detection: these are addresses we own and assign deterministically.
func ReplaceAddrs(h *netlink.Handle, l netlink.Link, ps ...netip.Prefix) error {
	for _, p := range ps {
		if err := h.AddrReplace(l, &netlink.Addr{IPNet: IPNet(p), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("address %s on %s: %w", p, l.Attrs().Name, err)
		}
	}
	return nil
}
