package wg

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/link"
	"github.com/zosnet/zosnet/internal/netns"
)

// userDev is wireguard-go on a TUN born in the link namespace, configured in-process
// (IpcSet, no UAPI socket), with a Bind that always opens its sockets in the socket
// namespace, whichever goroutine wireguard-go reopens them from.
type userDev struct {
	name  string
	index int
	dev   *device.Device
	once  sync.Once
}

// nsBind opens the wrapped Bind's sockets inside ns.
type nsBind struct {
	conn.Bind
	ns *netns.NS
}

// Open opens the UDP sockets in the socket namespace.
func (b *nsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	derr := b.ns.Do(func() error {
		fns, actual, err = b.Bind.Open(port)
		return nil
	})
	if derr != nil {
		return nil, 0, derr
	}
	return fns, actual, err
}

// nsTUN answers MTU from netlink in the link namespace: wireguard-go's ioctl looks the
// name up in whatever namespace its goroutine happens to run in.
type nsTUN struct {
	tun.Device
	h     *netlink.Handle
	index int
}

// MTU reads the link's MTU by index in the link namespace.
func (t *nsTUN) MTU() (int, error) {
	l, err := t.h.LinkByIndex(t.index)
	if err != nil {
		return 0, fmt.Errorf("read mtu of tun %d: %w", t.index, err)
	}
	return l.Attrs().MTU, nil
}

// Close closes the TUN (which removes the link) and the netlink handle.
func (t *nsTUN) Close() error {
	err := t.Device.Close()
	t.h.Close()
	return err
}

func newUserspace(o Options) (Device, error) {
	h, err := link.Handle(o.LinkNS)
	if err != nil {
		return nil, fmt.Errorf("wireguard-go %s: netlink handle: %w", o.Name, err)
	}
	var td tun.Device
	err = o.LinkNS.Do(func() error {
		var e error
		td, e = tun.CreateTUN(o.Name, o.MTU)
		return e
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("wireguard-go %s: create tun in %s: %w", o.Name, o.LinkNS.Path(), err)
	}
	l, err := h.LinkByName(o.Name)
	if err != nil {
		td.Close()
		h.Close()
		return nil, fmt.Errorf("wireguard-go %s: find tun: %w", o.Name, err)
	}
	t := &nsTUN{Device: td, h: h, index: l.Attrs().Index}
	bind := &nsBind{Bind: conn.NewStdNetBind(), ns: o.SockNS}
	dev := device.NewDevice(t, bind, wgLogger(o.Log, o.Name))
	return &userDev{name: o.Name, index: t.index, dev: dev}, nil
}

func wgLogger(log *slog.Logger, name string) *device.Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("wg", name)
	return &device.Logger{
		Verbosef: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) },
		Errorf:   func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) },
	}
}

func (u *userDev) Name() string { return u.name }
func (u *userDev) Kind() Kind   { return Userspace }
func (u *userDev) Index() int   { return u.index }

// Configure applies cfg through IpcSet, then brings the device up (opening the socket).
func (u *userDev) Configure(cfg wgtypes.Config) error {
	if err := u.dev.IpcSet(FormatUAPI(cfg)); err != nil {
		return fmt.Errorf("configure wireguard-go %s: %w", u.name, err)
	}
	if err := u.dev.Up(); err != nil {
		return fmt.Errorf("bring up wireguard-go %s: %w", u.name, err)
	}
	if cfg.ListenPort == nil || *cfg.ListenPort == 0 {
		return nil
	}
	// A failed bind (port taken) makes wireguard-go fall back to a random port on its
	// next up, which its own link events may trigger at any time: check the result.
	d, err := u.Device()
	if err != nil {
		return err
	}
	if d.ListenPort != *cfg.ListenPort {
		return fmt.Errorf("wireguard-go %s: listen port %d: %w", u.name, *cfg.ListenPort, ErrPortInUse)
	}
	return nil
}

// Device reads the device state through IpcGet.
func (u *userDev) Device() (*wgtypes.Device, error) {
	s, err := u.dev.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("read wireguard-go %s: %w", u.name, err)
	}
	return ParseUAPI(u.name, s)
}

// Handshake implements Handshaker: a keepalive staged to a peer without a session
// makes wireguard-go initiate a handshake at once.
func (u *userDev) Handshake(keys []wgtypes.Key) {
	for _, k := range keys {
		if p := u.dev.LookupPeer(device.NoisePublicKey(k)); p != nil {
			p.SendKeepalive()
		}
	}
}

// Release is Close: a userspace device cannot outlive its process.
func (u *userDev) Release() error { return u.Close() }

// Close stops the device; closing the TUN removes the link.
func (u *userDev) Close() error {
	u.once.Do(u.dev.Close)
	return nil
}
