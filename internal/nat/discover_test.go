package nat

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestDiscover(t *testing.T) {
	ap := netip.MustParseAddrPort
	addrs := map[string]netip.Addr{"1": netip.MustParseAddr("203.0.113.10"), "2": netip.MustParseAddr("203.0.113.11"),
		"3": netip.MustParseAddr("203.0.113.10")} // 3 shares 1's address
	now, fresh := at(100), 30*time.Second
	for _, c := range []struct {
		name      string
		obs       []Observation
		mapping   Mapping
		observers int
		endpoints []string
	}{
		{"none", nil, MapNone, 0, nil},
		{"one observer", []Observation{{"1", ap("198.51.100.11:51820"), at(90)}}, MapNone, 1, []string{"198.51.100.11:51820"}},
		{"same port twice: independent", []Observation{{"1", ap("198.51.100.11:51820"), at(90)}, {"2", ap("198.51.100.11:51820"), at(95)}},
			MapIndependent, 2, []string{"198.51.100.11:51820"}},
		{"two ports: dependent", []Observation{{"2", ap("198.51.100.14:1873"), at(90)}, {"1", ap("198.51.100.14:26823"), at(95)}},
			MapDependent, 2, []string{"198.51.100.14:1873", "198.51.100.14:26823"}},
		{"same observer address counts once", []Observation{{"1", ap("198.51.100.11:51820"), at(90)}, {"3", ap("198.51.100.11:51820"), at(95)}},
			MapNone, 1, []string{"198.51.100.11:51820"}},
		{"stale dropped", []Observation{{"1", ap("198.51.100.11:51820"), at(90)}, {"2", ap("198.51.100.11:4000"), at(60)}},
			MapNone, 1, []string{"198.51.100.11:51820"}},
		{"unknown observer and no handshake dropped", []Observation{{"9", ap("198.51.100.11:1"), at(90)}, {"2", ap("198.51.100.11:2"), time.Time{}}},
			MapNone, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Discover(c.obs, addrs, now, fresh)
			var eps []string
			for _, e := range d.Endpoints {
				eps = append(eps, e.String())
			}
			if d.Mapping != c.mapping || d.Observers != c.observers || !slices.Equal(eps, c.endpoints) {
				t.Errorf("got %+v, want mapping %s, %d observers, endpoints %v", d, c.mapping, c.observers, c.endpoints)
			}
			b := d.Behavior()
			if b.Filtering != FilterAddressPort || (b.Mapping == MapDependent) != (c.mapping == MapDependent) {
				t.Errorf("behavior %+v", b)
			}
		})
	}
	// discovered behaviours decide like the types they come from
	hard := Discovery{Mapping: MapDependent, Observers: 2}
	easy := Discovery{Mapping: MapIndependent, Observers: 2}
	if v := PunchableBehavior(hard.Behavior(), hard.Behavior()); v.Possible {
		t.Error("hard/hard discovered as punchable")
	}
	if v := PunchableBehavior(easy.Behavior(), easy.Behavior()); !v.Possible || v.Method != MethodSimultaneous {
		t.Errorf("easy/easy: %+v", v)
	}
}

// TestDiscoveryVerdict: from discovery alone only two symmetric sides are given up; an
// unknown mapping (fewer than two observers) counts as endpoint-independent; one
// symmetric side is tried by roaming. For every type pair, the discovery verdict never
// gives up a pair nat.Punchable says is possible (it may try one that is not).
func TestDiscoveryVerdict(t *testing.T) {
	for _, c := range []struct {
		a, b   Mapping
		ok     bool
		method Method
	}{
		{MapIndependent, MapIndependent, true, MethodSimultaneous},
		{MapNone, MapIndependent, true, MethodSimultaneous},
		{MapNone, MapNone, true, MethodSimultaneous},
		{MapDependent, MapIndependent, true, MethodRoaming},
		{MapNone, MapDependent, true, MethodRoaming},
		{MapDependent, MapDependent, false, ""},
	} {
		v := Discovery{Mapping: c.a}.Verdict(Discovery{Mapping: c.b})
		if v.Possible != c.ok || v.Method != c.method || (!v.Possible && v.Reason == "") {
			t.Errorf("%v × %v: %+v, want possible %v by %q", c.a, c.b, v, c.ok, c.method)
		}
	}
	seen := func(ty Type) Discovery { // what two observers see of ty's mapping
		b, _ := ty.Behavior()
		m := b.Mapping
		if m == MapNone {
			m = MapIndependent // a kept port looks endpoint-independent
		}
		return Discovery{Mapping: m, Observers: 2}
	}
	for _, a := range Types {
		for _, b := range Types {
			want, _ := Punchable(a, b)
			if got := seen(a).Verdict(seen(b)); want.Possible && !got.Possible {
				t.Errorf("%s × %s: discovery gives up a possible pair: %+v", a, b, got)
			}
		}
	}
}
