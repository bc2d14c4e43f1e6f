package nft

import (
	"net/netip"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/testkit"
)

// portSetTable is a table with a port set, an empty one and a rule that looks it up.
func portSetTable() *Table {
	st := NewTable(nftables.TableFamilyINet, "zt-portset")
	a := netip.MustParseAddr
	st.AddPortSet("reach", []AddrProtoPort{{a("10.1.2.10"), unix.IPPROTO_TCP, 443}, {a("10.1.1.11"), unix.IPPROTO_UDP, 53},
		{a("10.1.1.10"), unix.IPPROTO_TCP, 8080}, {a("10.1.1.10"), unix.IPPROTO_TCP, 80}})
	st.AddPortSet("none", nil)
	out := st.Filter("output", nftables.ChainHookOutput, nftables.ChainPolicyAccept)
	out.Add(Established(), Accept())
	out.Add(InetDAddrProtoDPortIn("reach"), Accept())
	out.Add(L4Proto(unix.IPPROTO_TCP), Drop())
	return st
}

// TestPortSetRender: the port set table as `nft list table` prints it, and its rule.
func TestPortSetRender(t *testing.T) {
	testkit.Golden(t, "testdata/portset.nft", Render(portSetTable()))
	if got := RenderRule(nftables.TableFamilyINet, Join(InetDAddrProtoDPortIn("backends"), Accept())); got != "ip daddr . meta l4proto . th dport @backends accept" {
		t.Errorf("rule renders as %q", got)
	}
}

// TestSortSetElements: the kernel's hash order and Render's sorted order compare equal;
// interval sets are left alone.
func TestSortSetElements(t *testing.T) {
	kernel := "table inet x {\n\tset s {\n\t\ttype ipv4_addr . inet_proto . inet_service\n" +
		"\t\telements = { 10.1.1.11 . udp . 53,\n\t\t\t     10.1.1.10 . tcp . 8080,\n\t\t\t     10.1.1.9 . tcp . 443 }\n\t}\n}\n"
	st := NewTable(nftables.TableFamilyINet, "x")
	a := netip.MustParseAddr
	st.AddPortSet("s", []AddrProtoPort{{a("10.1.1.9"), unix.IPPROTO_TCP, 443}, {a("10.1.1.11"), unix.IPPROTO_UDP, 53}, {a("10.1.1.10"), unix.IPPROTO_TCP, 8080}})
	if got, want := SortSetElements(kernel), Render(st); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	interval := "\t\telements = { 10.0.0.0/8, 192.168.0.0/16 }\n"
	if got := SortSetElements(interval); got != interval {
		t.Fatalf("an interval set changed: %q", got)
	}
}

// TestPortSetKernel: the kernel lists the port set table as Render does (elements
// sorted), and re-applying changes nothing.
func TestPortSetKernel(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	tb := portSetTable()
	for range 2 {
		if err := Apply(ns, tb); err != nil {
			t.Fatal(err)
		}
	}
	got := SortSetElements(testkit.NFTList(t, ns, "inet", tb.Name))
	testkit.SameAsGolden(t, "testdata/portset.nft", got)
}
