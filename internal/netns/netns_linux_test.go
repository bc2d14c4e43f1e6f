package netns_test

import (
	"errors"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ndmz", true}, {"n-abc", true}, {"", false}, {".", false}, {"..", false},
		{"a/b", false}, {string(make([]byte, 65)), false},
	} {
		if err := netns.ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCreateDoDelete(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	name := testkit.Name("ztc")
	ns, err := netns.Create("", name)
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Delete("", name)
	defer ns.Close()
	again, err := netns.Create("", name)
	if err != nil {
		t.Fatalf("second Create must open the existing namespace: %v", err)
	}
	defer again.Close()
	a, _ := ns.Inode()
	b, _ := again.Inode()
	if a != b {
		t.Fatalf("second Create made a new namespace (%d != %d)", a, b)
	}
	host, _ := netns.Current()
	defer host.Close()
	hi, _ := host.Inode()
	if hi == a {
		t.Fatal("new namespace is the caller's namespace")
	}
	var inside bool
	err = ns.Do(func() error {
		cur, err := netns.Current()
		if err != nil {
			return err
		}
		defer cur.Close()
		ci, _ := cur.Inode()
		inside = ci == a
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		if len(links) != 1 || links[0].Attrs().Name != "lo" {
			t.Errorf("fresh namespace has links %v, want only lo", links)
		}
		return nil
	})
	if err != nil || !inside {
		t.Fatalf("Do did not run inside the namespace: inside=%v err=%v", inside, err)
	}
	after, _ := netns.Current()
	defer after.Close()
	if ai, _ := after.Inode(); ai != hi {
		t.Fatal("Do did not restore the caller's namespace")
	}
	if err := netns.Delete("", name); err != nil {
		t.Fatal(err)
	}
	if err := netns.Delete("", name); err != nil {
		t.Fatalf("Delete of a missing namespace must succeed: %v", err)
	}
	if _, err := netns.OpenNamed("", name); !errors.Is(err, netns.ErrNotExist) {
		t.Fatalf("OpenNamed after Delete: %v, want ErrNotExist", err)
	}
}

func TestLeakCheckSeesLeak(t *testing.T) {
	testkit.RequireRoot(t)
	before, err := testkit.Take()
	if err != nil {
		t.Fatal(err)
	}
	name := testkit.Name("ztl")
	ns, err := netns.Create("", name)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	after, _ := testkit.Take()
	netns.Delete("", name)
	added := before.Added(after)
	want := []string{"netns " + name, "mount /run/netns/" + name}
	if len(added) != 2 || added[0] != want[0] || added[1] != want[1] {
		t.Fatalf("Added = %v, want %v", added, want)
	}
}

// A namespace file with two bind mounts stacked on it (e.g. recreated by someone racing
// with the deleter) is still deleted.
func TestDeleteStackedMounts(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	name := testkit.Name("zts")
	ns, err := netns.Create("", name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	p := netns.DefaultDir + "/" + name
	if err := unix.Mount(p, p, "none", unix.MS_BIND, ""); err != nil {
		netns.Delete("", name)
		t.Fatalf("stack a second bind mount: %v", err)
	}
	if err := netns.Delete("", name); err != nil {
		t.Fatalf("Delete with stacked mounts: %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still exists: %v", p, err)
	}
}
