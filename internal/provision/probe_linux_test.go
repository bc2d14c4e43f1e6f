package provision

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/zosnet/zosnet/internal/testkit"
)

// TestEcho: the request carries the id and sequence; only an echo reply with our id
// counts. (That the checksum is right is proven where a kernel answers: TestProbeLoopback.)
func TestEcho(t *testing.T) {
	b := EchoRequest(0x1234, 7)
	if b[0] != 8 || b[4] != 0x12 || b[5] != 0x34 || b[7] != 7 || b[2]|b[3] == 0 {
		t.Errorf("header % x", b[:8])
	}
	reply := func(id int, typ ipv4.ICMPType) []byte {
		r, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 7}}).Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"our reply", reply(0x1234, ipv4.ICMPTypeEchoReply), true},
		{"another id", reply(0x1235, ipv4.ICMPTypeEchoReply), false},
		{"a request", reply(0x1234, ipv4.ICMPTypeEcho), false},
		{"short", []byte{0, 0, 0}, false},
	} {
		if got := EchoReplyTo(c.b, 0x1234); got != c.want {
			t.Errorf("%s: EchoReplyTo = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestProbeLoopback probes 127.0.0.1 of a throwaway namespace through a real raw
// socket there: the kernel answers only a request with a right checksum.
func TestProbeLoopback(t *testing.T) {
	testkit.RequireRoot(t)
	ns := testkit.NewNS(t)
	lo := netip.MustParseAddr("127.0.0.1")
	p, err := openICMP(ns.Path(), lo, 0x5afe)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetTargets(map[netip.Addr]int64{lo: 7})
	deadline := time.Now().Add(5 * time.Second)
	for p.Seen()[7].IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no echo reply from 127.0.0.1 in the test namespace within 5 s")
		}
		p.Send()
		time.Sleep(50 * time.Millisecond)
	}
}
