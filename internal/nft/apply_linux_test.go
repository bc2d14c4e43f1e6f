package nft

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// TestApplyKernelListsRender: the kernel, asked with `nft list table`, prints exactly
// what Render printed for the sample ruleset (so golden files of the policies show what
// the kernel will hold); re-applying is idempotent; Current sees a change; Remove leaves
// nothing and is a no-op the second time.
func TestApplyKernelListsRender(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	ts := sample()
	for range 2 {
		if err := Apply(ns, ts...); err != nil {
			t.Fatal(err)
		}
	}
	var all strings.Builder
	for _, tb := range ts {
		got := testkit.NFTList(t, ns, Family(tb.Family), tb.Name)
		if want := Render(tb); got != want {
			t.Errorf("kernel lists table %s as\n%s\nrendered as\n%s", tb.Name, got, want)
		}
		all.WriteString(got)
		if !Current(ns, tb) {
			t.Errorf("table %s: not current right after Apply", tb.Name)
		}
	}
	testkit.SameAsGolden(t, "testdata/sample.nft", all.String())

	// A stale view ("not there yet") of an existing table: the exclusive create fails
	// rather than adding the rules a second time, and apply retries as a replace.
	if err := flush(ns, ts[:1], map[string]bool{}); err == nil {
		t.Error("exclusive create of an existing table succeeded")
	}
	if err := apply(ns, ts[:1], map[string]bool{}); err != nil {
		t.Fatalf("apply with a stale view: %v", err)
	}
	if got := testkit.NFTList(t, ns, Family(ts[0].Family), ts[0].Name); got != Render(ts[0]) {
		t.Errorf("after the retry the kernel lists\n%s", got)
	}

	changed := sample()[0]
	changed.Chains[0].Rules[2].UserData = []byte("v2")
	if Current(ns, changed) {
		t.Error("Current: a rule's user data changed, still current")
	}
	changed.Chains[0].Add(Drop())
	if Current(ns, changed) {
		t.Error("Current: a rule more, still current")
	}
	if err := Apply(ns, changed); err != nil {
		t.Fatal(err)
	}
	if !Current(ns, changed) {
		t.Error("Current: not current after applying the change")
	}
	for range 2 {
		for _, tb := range ts {
			if err := Remove(ns, tb.Family, tb.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := exec.Command("nsenter", "--net="+ns.Path(), "nft", "list", "ruleset").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("after Remove: %v:\n%s", err, out)
	}
	if Current(ns, ts[0]) {
		t.Error("Current: a removed table is current")
	}
}

// BenchmarkApply: a table created in a fresh namespace, and the same table replaced.
func BenchmarkApply(b *testing.B) {
	testkit.RequireRoot(b)
	ts := sample()
	b.Run("create", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			name := testkit.Name("ztb")
			ns, err := netns.Create("", name)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			err = Apply(ns, ts...)
			b.StopTimer()
			ns.Close()
			if derr := netns.Delete("", name); err == nil {
				err = derr
			}
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("replace", func(b *testing.B) {
		ns := testkit.NewNS(b)
		for b.Loop() {
			if err := Apply(ns, ts...); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReplaceElementsAndCounters: a set's elements are swapped alone (rules and their
// counters stay), the kernel then lists the new elements as Render does, and Counters
// reads a counting rule by its input interface; a rebuilt table starts from the
// counts it is given.
func TestReplaceElementsAndCounters(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	ns := testkit.NewNS(t)
	tb := setSample()
	tb.Chains[2].Rules[0] = Rule{Exprs: Join(IIF("u-a"), Counter(7, 700))}
	if err := Apply(ns, tb); err != nil {
		t.Fatal(err)
	}
	got, err := Counters(ns, tb.Family, tb.Name, "refuse")
	if err != nil || len(got) != 1 || got["u-a"] != (Count{Packets: 7, Bytes: 700}) {
		t.Fatalf("Counters = %v, %v; want u-a 7/700", got, err)
	}
	v4, _ := Ranges([]netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("255.255.255.255/32")})
	tb.Sets[0].Elements = v4
	tb.Sets[2].Elements = []Range{{netip.MustParseAddr("2001:db8:600::"), netip.MustParseAddr("2001:db8:600::ffff")}}
	for _, s := range tb.Sets {
		if err := ReplaceElements(ns, tb, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := testkit.NFTList(t, ns, Family(tb.Family), tb.Name); got != Render(tb) {
		t.Errorf("after ReplaceElements the kernel lists\n%s\nwant\n%s", got, Render(tb))
	}
	if got, _ := Counters(ns, tb.Family, tb.Name, "refuse"); got["u-a"].Packets != 7 {
		t.Errorf("counter after ReplaceElements = %v, want it kept", got)
	}
	if got, err := Counters(ns, tb.Family, "zt-none", "refuse"); err != nil || len(got) != 0 {
		t.Errorf("Counters of a missing table = %v, %v; want empty, nil", got, err)
	}
	if err := Remove(ns, tb.Family, tb.Name); err != nil {
		t.Fatal(err)
	}
}
