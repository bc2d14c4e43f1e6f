package plan

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wgdevice "golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/tuntest"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/ula"
)

// wgNode is a member or device running real wireguard-go on the fabric. Its forwarder
// plays the kernel: packets for its own addresses are recorded, others are routed back
// into the WireGuard device (what a relay does).
type wgNode struct {
	h       *host
	dev     *wgdevice.Device
	tun     *tuntest.ChannelTUN
	owns    []netip.Prefix
	mu      sync.Mutex
	got     map[[2]netip.Addr]bool // (src, dst) delivered here
	relayed map[[2]netip.Addr]bool // (src, dst) forwarded by this node
	done    chan struct{}
}

func (n *wgNode) forward() {
	for {
		select {
		case <-n.done:
			return
		case pkt, ok := <-n.tun.Inbound:
			if !ok {
				return
			}
			src, dst := addrsOf(pkt)
			n.mu.Lock()
			mine := owns(n.owns, dst)
			if mine {
				n.got[[2]netip.Addr{src, dst}] = true
			} else {
				n.relayed[[2]netip.Addr{src, dst}] = true
			}
			n.mu.Unlock()
			if !mine {
				go func() {
					select {
					case n.tun.Outbound <- pkt:
					case <-n.done:
					}
				}()
			}
		}
	}
}

func (n *wgNode) saw(m map[[2]netip.Addr]bool, src, dst netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return m[[2]netip.Addr{src, dst}]
}

// forget clears what the node saw, before a new phase of the test.
func (n *wgNode) forget() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got, n.relayed = map[[2]netip.Addr]bool{}, map[[2]netip.Addr]bool{}
}

func addrsOf(pkt []byte) (netip.Addr, netip.Addr) {
	if pkt[0]>>4 == 4 {
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	}
	return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
}

// packet builds an IPv4 ICMP echo or an IPv6 header-only packet from src to dst.
func packet(src, dst netip.Addr) []byte {
	if src.Is4() {
		return tuntest.Ping(dst, src)
	}
	p := make([]byte, 40)
	p[0], p[6], p[7] = 0x60, 59, 64 // version 6, no next header, hop limit
	binary.BigEndian.PutUint16(p[4:], 0)
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	return p
}

// uapi renders a wireguard-go configuration: the interface and peer lines for peers,
// and removals.
func uapi(priv *wgtypes.Key, port int, replace bool, peers []Peer, remove []string) string {
	var b strings.Builder
	if priv != nil {
		fmt.Fprintf(&b, "private_key=%s\nlisten_port=%d\n", hex.EncodeToString(priv[:]), port)
	}
	if replace {
		b.WriteString("replace_peers=true\n")
	}
	for _, pe := range peers {
		fmt.Fprintf(&b, "public_key=%s\n", hexKey(pe.PublicKey))
		if pe.Endpoint.IsValid() {
			fmt.Fprintf(&b, "endpoint=%s\n", pe.Endpoint)
		}
		fmt.Fprintf(&b, "persistent_keepalive_interval=%d\nreplace_allowed_ips=true\n", pe.Keepalive)
		for _, a := range pe.AllowedIPs {
			fmt.Fprintf(&b, "allowed_ip=%s\n", a)
		}
	}
	for _, k := range remove {
		fmt.Fprintf(&b, "public_key=%s\nremove=true\n", hexKey(k))
	}
	return b.String()
}

func hexKey(b64 string) string {
	k, err := wgtypes.ParseKey(b64)
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(k[:])
}

// meshLab is the lab's network on the fabric: farm1 and farm2 public (dual-stack),
// farm3 behind the farm's NAT, home1 and home2 behind one home NAT on one LAN, home6
// behind a NAT for IPv4 with a stateful IPv6 firewall, and a laptop behind its own NAT.
type meshLab struct {
	f     *fabric
	in    Input
	pl    Plan
	nodes map[string]*wgNode
}

func newMeshLab(t *testing.T) *meshLab {
	t.Helper()
	return newMesh(t, labInput(), []*host{
		{name: "farm1", port: 51820, outside: [2]netip.Addr{addr("198.51.100.11"), addr("2001:db8:1::11")}, open: [2]bool{true, true}},
		{name: "farm2", port: 51820, outside: [2]netip.Addr{addr("198.51.100.12"), addr("2001:db8:1::12")}, open: [2]bool{true, true}},
		{name: "farm3", port: 51820, outside: [2]netip.Addr{addr("198.51.100.1")}, lanID: "farm", lanPfx: pfx("192.168.10.13/24")},
		{name: "home1", port: 51820, outside: [2]netip.Addr{addr("203.0.113.10")}, lanID: "home", lanPfx: pfx("192.168.1.10/24")},
		{name: "home2", port: 51821, outside: [2]netip.Addr{addr("203.0.113.10")}, lanID: "home", lanPfx: pfx("192.168.1.11/24")},
		{name: "home6", port: 51820, outside: [2]netip.Addr{addr("203.0.113.20"), addr("2001:db8:6::10")}, lanID: "home6", lanPfx: pfx("192.168.2.10/24")},
		{name: "laptop", port: 40000, outside: [2]netip.Addr{addr("203.0.113.99")}},
	})
}

// newMesh gives every member and device of in a fresh key, plans the network and starts
// one wireguard-go device per host (named like the member or device) on a new fabric.
func newMesh(t *testing.T, in Input, hosts []*host) *meshLab {
	t.Helper()
	keys := map[string]wgtypes.Key{}
	for _, h := range hosts {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[h.name] = k
	}
	in.Members = append([]Member(nil), in.Members...)
	for i := range in.Members {
		in.Members[i].PublicKey = keys[in.Members[i].NodeID].PublicKey().String()
	}
	in.Access = append([]AccessPeer(nil), in.Access...)
	for i := range in.Access {
		in.Access[i].PublicKey = keys[in.Access[i].Name].PublicKey().String()
	}
	pl, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	l := &meshLab{f: newFabric(), in: in, pl: pl, nodes: map[string]*wgNode{}}
	peers := map[string][]Peer{}
	owned := map[string][]netip.Prefix{}
	for _, h := range hosts {
		l.f.add(h)
		if m, ok := findMember(pl, h.name); ok {
			peers[h.name], owned[h.name] = m.Peers, []netip.Prefix{m.Subnet, m.ULA}
		} else {
			d := findDevice(pl, h.name)
			peers[h.name], owned[h.name] = []Peer{d.Peer}, []netip.Prefix{netip.PrefixFrom(d.Address, 32)}
		}
	}
	// Configure and bring up every device before any sends (DESIGN.md: a first
	// handshake that finds its peer not up yet is retried only after 5 s), then turn
	// the keepalives on, which makes the dialing side send its first handshake.
	for _, h := range hosts {
		k := keys[h.name]
		quiet := slices.Clone(peers[h.name])
		for i := range quiet {
			quiet[i].Keepalive = 0
		}
		l.nodes[h.name] = l.start(t, h, uapi(&k, int(h.port), true, quiet, nil), owned[h.name])
	}
	for _, h := range hosts {
		if err := l.nodes[h.name].dev.Up(); err != nil {
			t.Fatalf("%s: up: %v", h.name, err)
		}
	}
	for _, h := range hosts {
		var b strings.Builder
		for _, pe := range peers[h.name] {
			if pe.Keepalive > 0 {
				fmt.Fprintf(&b, "public_key=%s\nupdate_only=true\npersistent_keepalive_interval=%d\n", hexKey(pe.PublicKey), pe.Keepalive)
			}
		}
		if err := l.nodes[h.name].dev.IpcSet(b.String()); err != nil {
			t.Fatalf("%s: keepalives: %v", h.name, err)
		}
	}
	return l
}

func findDevice(pl Plan, name string) DevicePlan {
	for _, d := range pl.Devices {
		if d.Name == name {
			return d
		}
	}
	panic("no device " + name)
}

func (l *meshLab) start(t *testing.T, h *host, conf string, ownsP []netip.Prefix) *wgNode {
	t.Helper()
	n := &wgNode{h: h, tun: tuntest.NewChannelTUN(), owns: ownsP, got: map[[2]netip.Addr]bool{},
		relayed: map[[2]netip.Addr]bool{}, done: make(chan struct{})}
	<-n.tun.TUN().Events() // the channel TUN starts "up": take that event so the device waits for Up
	n.dev = wgdevice.NewDevice(n.tun.TUN(), &bind{f: l.f, h: h}, wgdevice.NewLogger(wgdevice.LogLevelSilent, ""))
	if err := n.dev.IpcSet(conf); err != nil {
		t.Fatalf("%s: configure: %v\n%s", h.name, err, conf)
	}
	go n.forward()
	t.Cleanup(func() { close(n.done); n.dev.Close() })
	return n
}

func findMember(pl Plan, id string) (MemberPlan, bool) {
	for _, m := range pl.Members {
		if m.NodeID == id {
			return m, true
		}
	}
	return MemberPlan{}, false
}

// addrOf is the address a test packet uses for a member or device, per family.
func (l *meshLab) addrOf(name string, v6 bool) netip.Addr {
	if m, ok := findMember(l.pl, name); ok {
		a := m.Subnet.Addr().Next()
		if v6 {
			return ula.Addr(l.pl.NetworkID, a)
		}
		return a
	}
	return findDevice(l.pl, name).Address
}

// reach sends from a to b until b receives it or the deadline passes.
func (l *meshLab) reach(a, b string, v6 bool, deadline time.Duration) bool {
	src, dst := l.addrOf(a, v6), l.addrOf(b, v6)
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		select {
		case l.nodes[a].tun.Outbound <- packet(src, dst):
		case <-time.After(time.Second):
		}
		for poll := time.Now().Add(200 * time.Millisecond); time.Now().Before(poll); time.Sleep(5 * time.Millisecond) {
			if l.nodes[b].saw(l.nodes[b].got, src, dst) {
				return true
			}
		}
	}
	return false
}

// TestPlanOverWireGuard runs the plan of the lab network on real wireguard-go devices
// over the in-memory fabric: every member reaches every other over IPv4 and the ULA
// twin, the LAN pair's packets go over the LAN, hidden pairs go through the relay, the
// laptop reaches a hidden node through its access node, and after a relay dies and the
// members move the groups it was the primary of (WithRelay + Reconcile), those pairs
// recover through their second relay while the others keep theirs.
func TestPlanOverWireGuard(t *testing.T) {
	l := newMeshLab(t)
	names := []string{"farm1", "farm2", "farm3", "home1", "home2", "home6"}
	for _, a := range names {
		for _, b := range names {
			for _, v6 := range []bool{false, true} {
				if a != b && !l.reach(a, b, v6, 30*time.Second) {
					t.Fatalf("%s → %s (ipv6 %v): not delivered", a, b, v6)
				}
			}
		}
	}
	if !l.reach("laptop", "home6", false, 30*time.Second) || !l.reach("home1", "laptop", false, 30*time.Second) {
		t.Fatal("laptop ↔ hidden members: not delivered")
	}
	h1, h2 := l.nodes["home1"].h, l.nodes["home2"].h
	if l.f.count(h1, h2) == 0 || l.f.count(h2, h1) == 0 {
		t.Fatal("home1 ↔ home2 did not go over their LAN")
	}
	g := groupOf(l.pl, "home1", "home6")
	if len(g.Relays) != 2 {
		t.Fatalf("home1 → home6 relays %v, want a primary and a second", g.Relays)
	}
	r1 := l.nodes[g.Relays[0]]
	if !r1.saw(r1.relayed, l.addrOf("home1", false), l.addrOf("home6", false)) {
		t.Fatalf("home1 → home6 did not go through its relay %s", g.Relays[0])
	}
	if r1.saw(r1.relayed, l.addrOf("home1", false), l.addrOf("home2", false)) {
		t.Fatal("home1 → home2 went through the relay")
	}

	// The pair's primary relay dies; the groups it is the primary of move to their
	// second relay, the others stay where they are.
	l.f.mu.Lock()
	l.f.down[r1.h] = true
	l.f.mu.Unlock()
	for _, n := range l.nodes {
		n.forget()
	}
	for _, m := range l.pl.Members {
		ch := Reconcile(currentPeers(t, l.nodes[m.NodeID].dev), WithRelay(m, failedOver(m, g.Relays[0])))
		if len(ch.Add)+len(ch.Remove) != 0 {
			t.Fatalf("%s: failover changes %+v, want only updated entries", m.NodeID, ch)
		}
		if err := l.nodes[m.NodeID].dev.IpcSet(uapi(nil, 0, false, ch.Update, nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]string{{"home1", "home6"}, {"home6", "home2"}, {"farm3", "home1"}, {"home6", "farm3"}} {
		if !l.reach(p[0], p[1], false, 30*time.Second) {
			t.Fatalf("%s → %s: not delivered after failover", p[0], p[1])
		}
		pg := groupOf(l.pl, p[0], p[1])
		via := pg.Relays[0]
		if via == g.Relays[0] {
			via = pg.Relays[1]
		}
		if r := l.nodes[via]; !r.saw(r.relayed, l.addrOf(p[0], false), l.addrOf(p[1], false)) {
			t.Fatalf("%s → %s did not go through %s (its group's relays %v)", p[0], p[1], via, pg.Relays)
		}
	}
}

// currentPeers reads a device's peers back through its UAPI, as provisiond would with
// wgctrl.
func currentPeers(t *testing.T, dev *wgdevice.Device) []CurrentPeer {
	t.Helper()
	s, err := dev.IpcGet()
	if err != nil {
		t.Fatal(err)
	}
	var out []CurrentPeer
	for line := range strings.Lines(s) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "public_key":
			b, err := hex.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			key, _ := wgtypes.NewKey(b)
			out = append(out, CurrentPeer{PublicKey: key.String()})
		case "endpoint":
			out[len(out)-1].Endpoint = netip.MustParseAddrPort(v)
		case "persistent_keepalive_interval":
			fmt.Sscan(v, &out[len(out)-1].Keepalive)
		case "allowed_ip":
			out[len(out)-1].AllowedIPs = append(out[len(out)-1].AllowedIPs, netip.MustParsePrefix(v))
		}
	}
	return out
}

// hostsFor draws the underlay a random network's facts describe: reachable endpoints
// are open public addresses; a member that can send IPv4 without a reachable IPv4
// endpoint sits behind a NAT (its observed public source, or a made-up one); a global
// IPv6 address that is not reachable is behind a stateful firewall; LAN facts put
// members on one LAN when they share the observed source, prefix and router.
func hostsFor(in Input) []*host {
	var hosts []*host
	for i, m := range in.Members {
		h := &host{name: m.NodeID, port: uint16(m.ListenPort), natPort: uint16(20000 + i)}
		for _, e := range m.Endpoints {
			f := fam(familyOf(e.Addr))
			switch {
			case e.Reachable && !m.Hidden:
				h.outside[f], h.open[f] = e.Addr, true
			case f == 1 && globalV6(e.Addr) && !h.open[1]:
				h.outside[1] = e.Addr
			}
		}
		if !h.open[0] {
			h.outside[0] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
			if m.LAN.PublicSource.Is4() {
				h.outside[0] = m.LAN.PublicSource
			}
		}
		if len(m.LAN.Addresses) > 0 && m.LAN.PublicSource.IsValid() {
			h.lanPfx = m.LAN.Addresses[0]
			h.lanID = fmt.Sprint(m.LAN.PublicSource, h.lanPfx.Masked(), m.LAN.Router)
		}
		hosts = append(hosts, h)
	}
	for d, a := range in.Access {
		hosts = append(hosts, &host{name: a.Name, port: uint16(40000 + d), natPort: uint16(41000 + d),
			outside: [2]netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(200 + d)}), netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 15: byte(d + 1)})}})
	}
	return hosts
}

// TestRandomPlansOverWireGuard runs a few random networks (the property tests'
// generator) on wireguard-go: every member and device reaches every member and device.
func TestRandomPlansOverWireGuard(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ran := 0
	for round := 0; ran < 8 && round < 80; round++ {
		in := randomInput(r, 3+r.IntN(6))
		for i := range in.Members { // the physical LANs must match the facts: routers known on NAT 0 only
			if l := &in.Members[i].LAN; l.PublicSource != addr("203.0.113.1") {
				l.Router = ""
			} else if l.Router == "" {
				l.Router = "router-0-cgnat"
			}
		}
		if _, err := Compute(in); err != nil {
			continue
		}
		ran++
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			l := newMesh(t, in, hostsFor(in))
			var names []string
			for _, h := range hostsFor(in) {
				names = append(names, h.name)
			}
			for _, a := range names {
				for _, b := range names {
					for _, v6 := range []bool{false, true} {
						if a == b || (v6 && (l.isDevice(a) || l.isDevice(b))) || (l.isDevice(a) && l.isDevice(b)) {
							continue
						}
						if !l.reach(a, b, v6, 30*time.Second) {
							t.Fatalf("%s → %s (ipv6 %v): not delivered\ninput: %+v", a, b, v6, in)
						}
					}
				}
			}
		})
	}
	if ran < 8 {
		t.Fatalf("only %d random networks were plannable", ran)
	}
}

func (l *meshLab) isDevice(name string) bool {
	_, ok := findMember(l.pl, name)
	return !ok
}
