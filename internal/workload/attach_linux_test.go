package workload

import (
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func TestAttachDetach(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	host := testkit.NewNS(t)
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	h := testkit.Handle(t, host)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "b-net1", MTU: 1420}}); err != nil {
		t.Fatal(err)
	}
	att := &Attacher{Host: host, NetnsDir: dir}
	for _, kind := range []string{KindNetns, KindTap} {
		// A bridge without ports goes back to 1500; networkd's bridge always has the
		// NR's leg, so set the MTU again like its reconcile does.
		br, _ := h.LinkByName("b-net1")
		h.LinkSetMTU(br, 1420)
		info, err := Plan(nr("10.1.1.0/24"), Spec{Name: "w" + kind, NetworkID: "net1", Kind: kind}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // the second attach is a no-op
			if err := att.Attach(info); err != nil {
				t.Fatalf("%s attach %d: %v", kind, i, err)
			}
		}
		l, err := h.LinkByName(info.HostIf)
		if err != nil || l.Attrs().MasterIndex == 0 || l.Attrs().MTU != 1420 {
			t.Fatalf("%s: host end %v (err %v)", kind, l, err)
		}
		if kind == KindNetns {
			ns, err := netns.OpenNamed(dir, info.Netns)
			if err != nil {
				t.Fatal(err)
			}
			wh := testkit.Handle(t, ns)
			e, err := wh.LinkByName("eth0")
			if err != nil || e.Attrs().HardwareAddr.String() != info.MAC || e.Attrs().MTU != 1420 {
				t.Fatalf("eth0 %v err %v", e, err)
			}
			addrs, _ := wh.AddrList(e, netlink.FAMILY_ALL)
			if len(addrs) < 2 {
				t.Fatalf("eth0 addresses %v", addrs)
			}
			ns.Close()
		}
		for i := 0; i < 2; i++ {
			if err := att.Detach(info); err != nil {
				t.Fatalf("%s detach %d: %v", kind, i, err)
			}
		}
		if _, err := h.LinkByName(info.HostIf); err == nil {
			t.Fatalf("%s: host end left after detach", kind)
		}
	}
	if names, _ := netns.List(dir); len(names) != 0 {
		t.Fatalf("namespaces left: %v", names)
	}
}
