package plan

import (
	"encoding/base64"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// TestFastChecksAgree holds the fast path of validation to the messages path: keyOK is
// ValidKey, nameOK is the node id pattern, and memberOK passes a member exactly when
// validateMember finds nothing, on members with one field broken at a time.
func TestFastChecksAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var k [32]byte
	keys := []string{"", "=", strings.Repeat("A", 44), strings.Repeat("A", 43) + "=", strings.Repeat("A", 42) + "B=", strings.Repeat("/", 43) + "=",
		strings.Repeat("A", 42) + "E=", strings.Repeat("A", 43) + "==", base64.StdEncoding.EncodeToString(k[:31]), base64.URLEncoding.EncodeToString(k[:])}
	for range 2000 {
		for i := range k {
			k[i] = byte(r.Uint32())
		}
		s := []byte(base64.StdEncoding.EncodeToString(k[:]))
		if r.IntN(2) == 0 {
			s[r.IntN(len(s))] = "A-_=+/.\x00"[r.IntN(8)]
		}
		keys = append(keys, string(s))
	}
	for _, s := range keys {
		if keyOK(s) != ValidKey(s) {
			t.Fatalf("keyOK(%q) = %t, ValidKey %t", s, keyOK(s), ValidKey(s))
		}
	}
	for _, s := range []string{"", "a", "A.b_c-9", strings.Repeat("x", 64), strings.Repeat("x", 65), "a b", "é", "a\n", "a/b"} {
		if nameOK(s, 64) != nodeIDRe.MatchString(s) {
			t.Fatalf("nameOK(%q) = %t, pattern %t", s, nameOK(s, 64), nodeIDRe.MatchString(s))
		}
	}
	good := Member{NodeID: "n1", PublicKey: key(1), ListenPort: 1, Endpoints: []Endpoint{pub("198.51.100.1"), priv("2001:db8::1")},
		LAN: LAN{PublicSource: addr("203.0.113.1"), Addresses: pfxs("192.168.1.2/24", "100.64.1.1/10", "fd00::1/64"), Router: "r"}, RelayWeight: MaxRelayWeight}
	edits := []func(m *Member){
		func(m *Member) {},
		func(m *Member) { m.NodeID = "a b" },
		func(m *Member) { m.Name = strings.Repeat("x", 65) },
		func(m *Member) { m.PublicKey = "x" },
		func(m *Member) { m.ListenPort = 0 },
		func(m *Member) { m.ListenPort = 65536 },
		func(m *Member) { m.Endpoints = make([]Endpoint, MaxAddresses+1) },
		func(m *Member) { m.Endpoints = []Endpoint{{}} },
		func(m *Member) { m.Endpoints = []Endpoint{{Addr: addr("fe80::1")}} },
		func(m *Member) { m.Endpoints = []Endpoint{{Addr: addr("::ffff:1.2.3.4")}} },
		func(m *Member) { m.Endpoints = []Endpoint{{Addr: addr("1.2.3.4"), Family: IPv6}} },
		func(m *Member) { m.Endpoints = []Endpoint{{Addr: addr("fd00::1"), Reachable: true}} },
		func(m *Member) { m.LAN.PublicSource = addr("::ffff:1.2.3.4") },
		func(m *Member) { m.LAN.Addresses = pfxs("8.8.8.8/24") },
		func(m *Member) { m.LAN.Addresses = pfxs("192.168.1.0/24") },
		func(m *Member) { m.LAN.Addresses = []netip.Prefix{{}} },
		func(m *Member) { m.LAN.Addresses = pfxs("192.168.1.1/0") },
		func(m *Member) { m.LAN.Addresses = make([]netip.Prefix, MaxAddresses+1) },
		func(m *Member) { m.LAN.Router = strings.Repeat("r", 65) },
		func(m *Member) { m.RelayWeight = -1 },
		func(m *Member) { m.RelayWeight = MaxRelayWeight + 1 },
	}
	for i, edit := range edits {
		m := good
		m.LAN.Addresses = append([]netip.Prefix(nil), good.LAN.Addresses...)
		edit(&m)
		fast, slow := memberOK(&m), validateMember(m, "m") == nil
		if fast != slow {
			t.Fatalf("edit %d: memberOK %t, validateMember passes %t", i, fast, slow)
		}
		if i > 0 && fast {
			t.Fatalf("edit %d: broken member passes", i)
		}
	}
}
