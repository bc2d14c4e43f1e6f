package nat

import (
	"strings"
	"testing"
)

// TestPunchableAllPairs checks every ordered pair of types against a matrix written by
// hand from RFC 4787 (rows a, columns b, in the order of Types: Public, OneToOne,
// FullCone, AddressRestricted, Easy, Hard, CGNAT).
func TestPunchableAllPairs(t *testing.T) {
	matrix := []string{
		"ooooooo", // public
		"ooooooo", // one-to-one
		"oosssrs", // full cone
		"oosssrs", // address-restricted
		"oosss.s", // easy
		"oorr...", // hard
		"oosss.s", // cgnat
	}
	want := map[byte]Method{'o': MethodOpen, 's': MethodSimultaneous, 'r': MethodRoaming, '.': ""}
	for i, a := range Types {
		for j, b := range Types {
			v, err := Punchable(a, b)
			if err != nil {
				t.Fatalf("%s/%s: %v", a, b, err)
			}
			w := want[matrix[i][j]]
			if v.Method != w || v.Possible != (w != "") {
				t.Errorf("%s/%s: got %+v, want method %q", a, b, v, w)
			}
			if !v.Possible && (!strings.Contains(v.Reason, string(a)) || !strings.Contains(v.Reason, string(b))) {
				t.Errorf("%s/%s: reason %q does not name both types", a, b, v.Reason)
			}
			if v.Possible && v.Reason != "" {
				t.Errorf("%s/%s: possible with a reason %q", a, b, v.Reason)
			}
			r, _ := Punchable(b, a)
			if r.Possible != v.Possible || r.Method != v.Method {
				t.Errorf("%s/%s: not symmetric: %+v vs %+v", a, b, v, r)
			}
		}
	}
}

func TestPunchableUnknownType(t *testing.T) {
	if _, err := Punchable("port-predicting", Easy); err == nil || !strings.Contains(err.Error(), "port-predicting") {
		t.Fatalf("want an error naming the type, got %v", err)
	}
	if err := Type("").Validate(); err == nil {
		t.Fatal("empty type validated")
	}
	for _, ty := range Types {
		if err := ty.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestSeries(t *testing.T) {
	for _, c := range []struct {
		inner, outer, want Behavior
	}{
		{behaviors[Easy], behaviors[Easy], behaviors[Easy]},
		{behaviors[FullCone], behaviors[Easy], behaviors[Easy]},
		{behaviors[FullCone], behaviors[AddressRestricted], behaviors[AddressRestricted]},
		{behaviors[Easy], behaviors[Hard], behaviors[Hard]},
		{behaviors[Hard], behaviors[FullCone], Behavior{MapDependent, FilterAddressPort}},
		{behaviors[OneToOne], behaviors[FullCone], behaviors[FullCone]},
		{behaviors[Public], behaviors[Public], behaviors[Public]},
	} {
		if got := Series(c.inner, c.outer); got != c.want {
			t.Errorf("Series(%+v, %+v) = %+v, want %+v", c.inner, c.outer, got, c.want)
		}
	}
}
