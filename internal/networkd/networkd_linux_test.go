package networkd_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/localapi"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

var bg = context.Background()

// meshPair creates network id on a (10.1.1.0/24, public at 10.99.0.1) and b
// (10.1.2.0/24, hidden: a has no endpoint for it), both peered, and returns the NRs.
// a learns b's key first, so b's first handshake (sent at once: keepalive) finds a ready.
func meshPair(t testing.TB, a, b *node, id string) (nodeapi.NR, nodeapi.NR) {
	t.Helper()
	nb, err := b.cl.PutNR(bg, spec(id, "10.1.2.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	na, err := a.cl.PutNR(bg, spec(id, "10.1.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	na, err = a.cl.PutNR(bg, spec(id, "10.1.1.0/24", nodeapi.Peer{PublicKey: nb.Status.PublicKey,
		AllowedIPs: []netip.Prefix{pfx("10.1.2.0/24")}}))
	if err != nil {
		t.Fatal(err)
	}
	// b (hidden) knows a's endpoint and keeps the NAT open; a has no endpoint for b.
	nb, err = b.cl.PutNR(bg, spec(id, "10.1.2.0/24", nodeapi.Peer{PublicKey: na.Status.PublicKey,
		Endpoint:   netip.AddrPortFrom(netip.MustParseAddr("10.99.0.1"), na.Status.ListenPort).String(),
		AllowedIPs: []netip.Prefix{pfx("10.1.1.0/24")}, PersistentKeepalive: 25}))
	if err != nil {
		t.Fatal(err)
	}
	return na, nb
}

func addWL(t testing.TB, n *node, id, name string) nodeapi.Workload {
	t.Helper()
	w, err := n.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: name, NetworkID: id})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDaemonAPI(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	wire(t, a, b, 1500)
	a.start(t)
	b.start(t)
	na, nb := meshPair(t, a, b, "net1")
	wa, wb := addWL(t, a, "net1", "wa"), addWL(t, b, "net1", "wb")
	wlA, wlB := filepath.Join(a.netnsDir(), wa.Netns), filepath.Join(b.netnsDir(), wb.Netns)
	// b is hidden: it speaks first (keepalive/handshake), then a can reach it.
	pollPing(t, wlB, wa.IPv4.Addr(), 10*time.Second)
	pollPing(t, wlA, wb.IPv4.Addr(), 5*time.Second)
	pollPing(t, wlA, wb.IPv6.Addr(), 5*time.Second)

	got, err := a.cl.GetNR(bg, "net1")
	if err != nil {
		t.Fatal(err)
	}
	p := got.Status.Peers
	if got.Status.State != nodeapi.StateOK || len(p) != 1 || p[0].LatestHandshake == nil || p[0].RxBytes == 0 ||
		p[0].Endpoint != "10.99.0.2:"+itoa(nb.Status.ListenPort) || got.Status.WGKind != "userspace" {
		t.Fatalf("status %+v", got.Status)
	}
	// Idempotent: the same spec again keeps key and port.
	again, err := a.cl.PutNR(bg, got.Spec)
	if err != nil || again.Status.PublicKey != na.Status.PublicKey || again.Status.ListenPort != na.Status.ListenPort {
		t.Fatalf("re-put: %+v %v", again.Status, err)
	}
	if w2, err := a.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: "wa", NetworkID: "net1"}); err != nil || w2.IPv4 != wa.IPv4 || w2.MAC != wa.MAC {
		t.Fatalf("re-add workload: %+v %v", w2, err)
	}
	checkErrors(t, a, na)
	checkMetrics(t, a)
	checkPortChange(t, a, got)
}

// Changing an NR's port frees the old one (another NR can take it) and keeps the key.
func checkPortChange(t *testing.T, a *node, nr nodeapi.NR) {
	t.Helper()
	old := nr.Status.ListenPort
	s := nr.Spec
	s.ListenPort = 4077
	moved, err := a.cl.PutNR(bg, s)
	if err != nil || moved.Status.ListenPort != 4077 || moved.Status.PublicKey != nr.Status.PublicKey {
		t.Fatalf("port change: %+v %v", moved.Status, err)
	}
	other := spec("net5", "10.1.1.0/24")
	other.ListenPort = old
	if _, err := a.cl.PutNR(bg, other); err != nil {
		t.Fatalf("old port %d not released: %v", old, err)
	}
	if err := a.cl.DeleteNR(bg, "net5"); err != nil {
		t.Fatal(err)
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func checkErrors(t *testing.T, a *node, na nodeapi.NR) {
	t.Helper()
	bad := spec("net2", "10.2.0.0/24")
	if _, err := a.cl.PutNR(bg, bad); !errors.Is(err, nodeapi.ErrInvalid) || !strings.Contains(err.Error(), "subnet") {
		t.Fatalf("subnet outside range: %v", err)
	}
	taken := spec("net2", "10.1.1.0/24")
	taken.ListenPort = na.Status.ListenPort
	if _, err := a.cl.PutNR(bg, taken); !errors.Is(err, nodeapi.ErrConflict) || !strings.Contains(err.Error(), "listen_port") {
		t.Fatalf("port taken: %v", err)
	}
	if _, err := a.cl.GetNR(bg, "nope"); !errors.Is(err, nodeapi.ErrNotFound) {
		t.Fatalf("missing nr: %v", err)
	}
	if _, err := os.Stat(filepath.Join(a.stateDir(), "keys", "nr-nope.key")); err == nil {
		t.Fatal("reading a missing NR made a key for it")
	}
	keys, _ := os.ReadDir(filepath.Join(a.stateDir(), "keys"))
	for _, k := range keys {
		if st, _ := k.Info(); st.Mode().Perm() != 0o600 {
			t.Fatalf("key %s has mode %v, want 0600", k.Name(), st.Mode())
		}
	}
	if _, err := a.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: "x", NetworkID: "nope"}); !errors.Is(err, nodeapi.ErrNotFound) {
		t.Fatalf("workload on missing nr: %v", err)
	}
	if _, err := a.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: "Bad_Name", NetworkID: "net1"}); !errors.Is(err, nodeapi.ErrInvalid) {
		t.Fatalf("bad workload name: %v", err)
	}
	checkBadBodies(t, a)
	if nrs, _ := a.cl.ListNRs(bg); len(nrs) != 1 {
		t.Fatalf("refused specs left NRs: %d", len(nrs))
	}
}

// checkBadBodies: bad bodies → status and a message naming the field, never Go
// internals; a missing NR or workload to delete → 404 (issue 19).
func checkBadBodies(t *testing.T, a *node) {
	t.Helper()
	nr := `{"network_id":"net2","ip_range":"10.2.0.0/16","subnet":%q,"peers":[{"public_key":"` + testKey + `","allowed_ips":[%q]}]}`
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"PUT", "/v1/nrs/net2", fmt.Sprintf(nr, "10.9.0.0/33", "10.2.9.0/24"), 400, `subnet: "10.9.0.0/33": prefix length out of range`},
		{"PUT", "/v1/nrs/net2", fmt.Sprintf(nr, "10.2.1.0/24", "10.2.9.0/99"), 400, `peers[0].allowed_ips[0]: "10.2.9.0/99": prefix length out of range`},
		{"PUT", "/v1/nrs/net2", `{"network_id":"net2","listen_port":-1}`, 400, `listen_port: want a whole number`},
		{"PUT", "/v1/nrs/net2", `{"network_id":"net2","colour":1}`, 400, `body: unknown field "colour"`},
		{"PUT", "/v1/nrs/net2", `{"network_id":"net3"}`, 400, `network_id: "net3" differs from the path's "net2"`},
		{"PUT", "/v1/nrs/net2", `{"network_id":"net2","subnet":"` + strings.Repeat("1", 2<<20) + `"}`, 413, "body: larger than 1048576 bytes"},
		{"PUT", "/v1/public-config", `{"ipv4":"198.51.100.7/33"}`, 400, `ipv4: "198.51.100.7/33": prefix length out of range`},
		{"PUT", "/v1/workloads/w1", `{"name":"w1","network_id":"net1","kind":3}`, 400, `kind: want a string`},
		{"DELETE", "/v1/nrs/nosuch", ``, 404, `network resource nosuch: not found on this node: nothing to remove`},
		{"DELETE", "/v1/workloads/nosuch", ``, 404, `workload nosuch: not found on this node`},
	} {
		status, body := rawDo(t, a, tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) || strings.Contains(body, "netip.") || strings.Contains(body, "json:") {
			t.Errorf("%s %s: %d %s, want %d saying %q", tc.method, tc.path, status, body, tc.status, tc.want)
		}
	}
}

const testKey = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

func rawDo(t *testing.T, a *node, method, path, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.socket())
	}}}
	req, err := http.NewRequest(method, "http://networkd"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, e.Error
}

func rawGet(t testing.TB, a *node, path string) []byte {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.socket())
	}}}
	defer hc.CloseIdleConnections() // a transport per call: leave no idle connection in networkd
	resp, err := hc.Get("http://networkd" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func checkMetrics(t *testing.T, a *node) {
	t.Helper()
	b := rawGet(t, a, "/metrics")
	raw, err := os.ReadFile(filepath.Join(a.stateDir(), "keys", "nr-net1.key"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("key file: %v (%d bytes)", err, len(raw))
	}
	priv := base64.StdEncoding.EncodeToString(raw)
	for _, p := range []string{"/v1/nrs", "/v1/nrs/net1", "/v1/status", "/metrics"} {
		if strings.Contains(string(rawGet(t, a, p)), priv) || strings.Contains(string(rawGet(t, a, p)), hex.EncodeToString(raw)) {
			t.Fatalf("%s reveals the private key", p)
		}
	}
	for _, want := range []string{`zosnet_nr_up{nr="net1"} 1`, "zosnet_wg_peer_receive_bytes_total{", "zosnet_nr_apply_seconds_count", "zosnet_workloads 1"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// A graceful restart recreates the userspace devices from disk: same key and port,
// and the workloads talk again.
func TestDaemonRestart(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	wire(t, a, b, 1400)
	a.start(t)
	b.start(t)
	na, _ := meshPair(t, a, b, "net1")
	wa, wb := addWL(t, a, "net1", "wa"), addWL(t, b, "net1", "wb")
	wlB := filepath.Join(b.netnsDir(), wb.Netns)
	pollPing(t, wlB, wa.IPv4.Addr(), 10*time.Second)
	a.stop(t)
	if err := ping(t, wlB, wa.IPv4.Addr()); err == nil {
		t.Fatal("ping passed with a's networkd stopped (its userspace link should be gone)")
	}
	restarted := time.Now()
	a.start(t)
	// a remembered b's learned endpoint, so a's traffic handshakes at once; b's stale
	// session alone would take up to ~15 s (WireGuard's rekey timeout) to notice.
	pollPing(t, filepath.Join(a.netnsDir(), wa.Netns), wb.IPv4.Addr(), 5*time.Second)
	pollPing(t, wlB, wa.IPv4.Addr(), 5*time.Second)
	got, err := a.cl.GetNR(bg, "net1")
	if err != nil || got.Status.PublicKey != na.Status.PublicKey || got.Status.ListenPort != na.Status.ListenPort {
		t.Fatalf("after restart: %+v %v (before %+v)", got.Status, err, na.Status)
	}
	// the live device, seen from b: a handshake since the restart proves a's key (b
	// knows no other), and the endpoint b learned from it is a's socket's real port
	liveKeyAndPort(t, b.cl, "net1", na.Status.PublicKey, "10.99.0.1:"+itoa(na.Status.ListenPort), restarted)
	if ws, _ := a.cl.ListWorkloads(bg); len(ws) != 1 || ws[0].IPv4 != wa.IPv4 {
		t.Fatalf("workloads after restart: %+v", ws)
	}
	if err := a.cl.DeleteNR(bg, "net1"); err != nil {
		t.Fatal(err)
	}
	if ws, _ := a.cl.ListWorkloads(bg); len(ws) != 0 {
		t.Fatalf("workloads after nr delete: %+v", ws)
	}
}

// liveKeyAndPort checks, through another node's API, that its peer key has handshaken
// since since and that WireGuard last heard it from endpoint ep: what the restarted
// device really uses, not what its daemon saved.
func liveKeyAndPort(t testing.TB, other *localapi.Client, id, key, ep string, since time.Time) {
	t.Helper()
	nr, err := other.GetNR(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nr.Status.Peers {
		if p.PublicKey != key {
			continue
		}
		if p.LatestHandshake == nil || p.LatestHandshake.Before(since.Add(-time.Second)) {
			t.Errorf("peer %s: no handshake since the restart at %s (last %v)", key, since.Format(time.TimeOnly), p.LatestHandshake)
		}
		if p.Endpoint != ep {
			t.Errorf("peer %s: heard from %s, want %s (the port the daemon saved)", key, p.Endpoint, ep)
		}
		return
	}
	t.Errorf("no peer %s on the other node", key)
}

// The periodic resync restores what was deleted behind networkd's back: the NR's
// namespace and the workload bridge; traffic flows again without any API call.
func TestResyncRepairs(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	a, b := newNode(t), newNode(t)
	wire(t, a, b, 1500)
	a.start(t)
	b.start(t)
	meshPair(t, a, b, "net1")
	wa, wb := addWL(t, a, "net1", "wa"), addWL(t, b, "net1", "wb")
	wlA := filepath.Join(a.netnsDir(), wa.Netns)
	pollPing(t, wlA, wb.IPv4.Addr(), 10*time.Second)
	h := handle(t, a.host)
	br, err := h.LinkByName("b-net1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkDel(br); err != nil {
		t.Fatal(err)
	}
	if err := netns.Delete(a.netnsDir(), "n-net1"); err != nil {
		t.Fatal(err)
	}
	pollPing(t, wlA, wb.IPv4.Addr(), 10*time.Second)
	if _, err := h.LinkByName("b-net1"); err != nil {
		t.Fatalf("bridge not restored: %v", err)
	}
}
