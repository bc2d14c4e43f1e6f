package dnsfwd

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream runs a DNS server on 127.0.0.1 (UDP and TCP, same port) that answers
// name A 192.0.2.7 and NXDOMAIN otherwise; it returns its address.
func upstream(t *testing.T, name string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Name == name {
			rr, _ := dns.NewRR(name + " 60 IN A 192.0.2.7")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// TestForward: queries over UDP and TCP reach the upstream and come back; an unknown
// name keeps the upstream's NXDOMAIN; a dead upstream first in the list is skipped; no
// usable upstream is SERVFAIL. The test's upstream listens on loopback, so the
// forwarder is given it through its parsed list (the loopback filter is tested apart).
func TestForward(t *testing.T) {
	up := upstream(t, "registry.lab.")
	dead, _ := net.ListenPacket("udp", "127.0.0.1:0") // bound, never answers
	t.Cleanup(func() { dead.Close() })
	f := &Forwarder{ResolvConf: writeConf(t, "nameserver 192.0.2.1\n"), Timeout: 300 * time.Millisecond}
	f.Upstreams()
	f.ups = []string{dead.LocalAddr().String(), up}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	l, _ := net.Listen("tcp", pc.LocalAddr().String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.Serve(ctx, pc, l) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := pc.LocalAddr().String()
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 3 * time.Second}
		m := new(dns.Msg).SetQuestion("registry.lab.", dns.TypeA)
		r, _, err := c.Exchange(m, addr)
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.7" {
			t.Errorf("%s: %v %v", network, r, err)
		}
		m = new(dns.Msg).SetQuestion("nope.lab.", dns.TypeA)
		if r, _, err := c.Exchange(m, addr); err != nil || r.Rcode != dns.RcodeNameError {
			t.Errorf("%s nxdomain: %v %v", network, r, err)
		}
	}
	f.mu.Lock()
	f.ups = []string{dead.LocalAddr().String()}
	f.mu.Unlock()
	c := &dns.Client{Timeout: 3 * time.Second}
	if r, _, err := c.Exchange(new(dns.Msg).SetQuestion("registry.lab.", dns.TypeA), addr); err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Errorf("dead upstream: %v %v, want SERVFAIL", r, err)
	}
}

// TestUpstreams: loopback, unspecified and skipped servers are left out; the file is
// read again when it changes; a missing file is an error naming it.
func TestUpstreams(t *testing.T) {
	path := writeConf(t, "nameserver 127.0.0.53\nnameserver 10.201.0.1\nnameserver 2001:db8::53\nnameserver 100.126.53.53\nnameserver ::\n")
	f := &Forwarder{ResolvConf: path, Skip: []netip.Addr{netip.MustParseAddr("100.126.53.53")}}
	got, err := f.Upstreams()
	if err != nil || len(got) != 2 || got[0] != "10.201.0.1:53" || got[1] != "[2001:db8::53]:53" {
		t.Fatalf("upstreams = %v, %v", got, err)
	}
	os.WriteFile(path, []byte("nameserver 198.51.100.53\n"), 0o644)
	later := time.Now().Add(time.Second)
	os.Chtimes(path, later, later)
	if got, err := f.Upstreams(); err != nil || len(got) != 1 || got[0] != "198.51.100.53:53" {
		t.Errorf("after a change: %v, %v", got, err)
	}
	f = &Forwarder{ResolvConf: filepath.Join(t.TempDir(), "none")}
	if _, err := f.Upstreams(); err == nil {
		t.Error("missing resolv.conf: no error")
	}
}

func writeConf(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
