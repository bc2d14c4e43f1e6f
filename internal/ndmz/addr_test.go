package ndmz

import (
	"net/netip"
	"testing"
)

func TestAddrs(t *testing.T) {
	for _, tt := range []struct {
		b                    int
		dmz4, nr4, dmz6, nr6 string
	}{
		{0, "100.127.0.1/30", "100.127.0.2/30", "fd64:6e64:7a00::1/64", "fd64:6e64:7a00::2/64"},
		{1, "100.127.0.5/30", "100.127.0.6/30", "fd64:6e64:7a00:1::1/64", "fd64:6e64:7a00:1::2/64"},
		{64, "100.127.1.1/30", "100.127.1.2/30", "fd64:6e64:7a00:40::1/64", "fd64:6e64:7a00:40::2/64"},
		{Blocks - 1, "100.127.255.253/30", "100.127.255.254/30", "fd64:6e64:7a00:3fff::1/64", "fd64:6e64:7a00:3fff::2/64"},
	} {
		d4, n4, d6, n6 := Addrs(tt.b)
		if d4.String() != tt.dmz4 || n4.String() != tt.nr4 || d6.String() != tt.dmz6 || n6.String() != tt.nr6 {
			t.Errorf("Addrs(%d) = %s %s %s %s, want %s %s %s %s", tt.b, d4, n4, d6, n6, tt.dmz4, tt.nr4, tt.dmz6, tt.nr6)
		}
		if got := BlockOf(d4.Addr()); got != tt.b {
			t.Errorf("BlockOf(%s) = %d, want %d", d4.Addr(), got, tt.b)
		}
	}
	if BlockOf(netip.MustParseAddr("10.0.0.1")) != -1 {
		t.Error("BlockOf outside Uplinks4 must be -1")
	}
}

func TestBlockProbesPastUsed(t *testing.T) {
	b := Block("net1", nil)
	if b < 0 || b >= Blocks || Block("net1", nil) != b {
		t.Fatalf("Block(net1) = %d: not stable or out of range", b)
	}
	if got := Block("net1", map[int]bool{b: true}); got != (b+1)%Blocks {
		t.Errorf("with %d used, Block = %d, want %d", b, got, (b+1)%Blocks)
	}
	all := map[int]bool{}
	for i := 0; i < Blocks; i++ {
		all[i] = true
	}
	if got := Block("net1", all); got != -1 {
		t.Errorf("all used: Block = %d, want -1", got)
	}
}
