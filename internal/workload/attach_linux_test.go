package workload

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
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
	for _, kind := range []string{nodeapi.KindNetns, nodeapi.KindTap} {
		// A bridge without ports goes back to 1500; networkd's bridge always has the
		// NR's leg, so set the MTU again like its reconcile does.
		br, _ := h.LinkByName("b-net1")
		h.LinkSetMTU(br, 1420)
		info, err := Plan(nr("10.1.1.0/24"), nodeapi.WorkloadSpec{Name: "w" + kind, NetworkID: "net1", Kind: kind}, nil)
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
		if kind == nodeapi.KindNetns {
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

// GC removes the objects of workloads no one wants (a netns workload's veth and
// namespace, a tap) and leaves the wanted workload and every name that is not ours.
func TestGC(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	host := testkit.NewNS(t)
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	h := testkit.Handle(t, host)
	for _, l := range []netlink.Link{
		&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "b-net1"}},
		&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "c-notours"}}, // not 10 hex digits
		&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "x-0123456789"}},
	} {
		if err := h.LinkAdd(l); err != nil {
			t.Fatal(err)
		}
	}
	foreign, err := netns.Create(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	foreign.Close()
	t.Cleanup(func() { netns.Delete(dir, "other") })
	att := &Attacher{Host: host, NetnsDir: dir}
	var ws []nodeapi.Workload
	for _, s := range []nodeapi.WorkloadSpec{{Name: "keep", NetworkID: "net1", Kind: nodeapi.KindNetns},
		{Name: "gone", NetworkID: "net1", Kind: nodeapi.KindNetns}, {Name: "vm", NetworkID: "net1", Kind: nodeapi.KindTap}} {
		w, err := Plan(nr("10.1.1.0/24"), s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := att.Attach(w); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	removed, err := att.GC(ws[:1])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ws[1].HostIf, ws[2].HostIf, "netns " + ws[1].Netns}
	slices.Sort(removed)
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for _, n := range []string{ws[0].HostIf, "c-notours", "x-0123456789", "b-net1"} {
		if _, err := h.LinkByName(n); err != nil {
			t.Errorf("link %s gone after GC: %v", n, err)
		}
	}
	names, _ := netns.List(dir)
	if !slices.Equal(names, []string{"other", ws[0].Netns}) {
		t.Errorf("namespaces after GC %v, want other and %s", names, ws[0].Netns)
	}
	if removed, err := att.GC(ws[:1]); err != nil || len(removed) != 0 {
		t.Fatalf("second GC: removed %v, err %v", removed, err)
	}
	if err := att.Detach(ws[0]); err != nil {
		t.Fatal(err)
	}
}
