package portalloc

import (
	"errors"
	"testing"
)

func TestAllocate(t *testing.T) {
	busy := map[uint16]bool{101: true}
	a, err := New(100, 104, func(p uint16) bool { return !busy[p] })
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op    string // alloc | release
		owner string
		want  uint16
		port  uint16
		errIs error
	}{
		{"alloc", "a", 0, 100, nil},
		{"alloc", "a", 0, 100, nil},      // idempotent
		{"alloc", "b", 0, 102, nil},      // 101 busy in the kernel
		{"alloc", "c", 102, 0, ErrTaken}, // held by b
		{"alloc", "c", 101, 0, ErrTaken}, // busy socket
		{"alloc", "c", 104, 104, nil},    // requested
		{"alloc", "c", 103, 103, nil},    // port change releases 104
		{"alloc", "d", 0, 104, nil},      // 104 reused, no leak
		{"alloc", "e", 0, 0, ErrExhausted},
		{"release", "a", 0, 0, nil},
		{"release", "a", 0, 0, nil}, // idempotent
		{"alloc", "e", 0, 100, nil},
	}
	for i, s := range steps {
		if s.op == "release" {
			a.Release(s.owner)
			continue
		}
		got, err := a.Allocate(s.owner, s.want)
		if s.errIs != nil {
			if !errors.Is(err, s.errIs) {
				t.Fatalf("step %d: Allocate(%s,%d) err = %v, want %v", i, s.owner, s.want, err, s.errIs)
			}
			continue
		}
		if err != nil || got != s.port {
			t.Fatalf("step %d: Allocate(%s,%d) = %d, %v; want %d", i, s.owner, s.want, got, err, s.port)
		}
	}
	want := map[string]uint16{"b": 102, "c": 103, "d": 104, "e": 100}
	got := a.Assignments()
	if len(got) != len(want) {
		t.Fatalf("Assignments = %v, want %v", got, want)
	}
	for o, p := range want {
		if got[o] != p {
			t.Fatalf("Assignments = %v, want %v", got, want)
		}
	}
}

func TestRestore(t *testing.T) {
	a, _ := New(100, 200, nil)
	if err := a.Restore(map[string]uint16{"x": 150, "y": 100}); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.Allocate("x", 0); p != 150 {
		t.Fatalf("restored owner got %d, want 150", p)
	}
	if p, _ := a.Allocate("z", 0); p != 101 {
		t.Fatalf("new owner got %d, want 101", p)
	}
	if _, err := a.Allocate("z", 150); !errors.Is(err, ErrTaken) {
		t.Fatalf("want ErrTaken, got %v", err)
	}
	b, _ := New(100, 200, nil)
	b.Restore(map[string]uint16{"x": 150})
	if err := b.Restore(map[string]uint16{"w": 150}); !errors.Is(err, ErrTaken) {
		t.Fatalf("double restore: want ErrTaken, got %v", err)
	}
	if _, err := New(0, 10, nil); err == nil {
		t.Fatal("New(0,10) accepted")
	}
}

// TestSpread: the search starts at the seed's point of the range and wraps; the same
// seed gives the same ports, so two allocators behind one NAT differ only by seed.
func TestSpread(t *testing.T) {
	cases := []struct {
		seed uint64
		want []uint16 // ports of owners a, b, c, d in order
	}{
		{0, []uint16{100, 101, 102, 103}},
		{3, []uint16{103, 104, 100, 101}},
		{4, []uint16{104, 100, 101, 102}},
		{5 + 2, []uint16{102, 103, 104, 100}}, // modulo the range's size
	}
	for _, c := range cases {
		a, err := New(100, 104, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Spread(c.seed)
		for i, o := range []string{"a", "b", "c", "d"} {
			if p, err := a.Allocate(o, 0); err != nil || p != c.want[i] {
				t.Errorf("seed %d: owner %s got %d, %v; want %d", c.seed, o, p, err, c.want[i])
			}
		}
	}
}
