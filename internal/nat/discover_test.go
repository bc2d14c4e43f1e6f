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
