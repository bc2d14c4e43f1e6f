package webui

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// call sends an API request as the page does (header token, own Origin) and decodes
// the answer into out (nil: ignored); it returns the status and the raw body.
func call(t *testing.T, s *Server, base, method, path string, body, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Zosnet-Token", s.token)
	req.Header.Set("Origin", s.origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	w := newWorld(t, 6)
	s, base := w.ui(t, time.Second)
	id := w.network.ID

	var v View
	if code, b := call(t, s, base, "GET", "/api/networks/"+id, nil, &v); code != 200 {
		t.Fatalf("view: %d %s", code, b)
	}
	if v.Nodes != 6 || v.Edges != 15 || len(v.Status.Pairs) != 30 || !strings.Contains(v.SVG, "<svg") {
		t.Fatalf("view: %d nodes, %d edges, %d pairs; want 6, 15, 30 and an SVG", v.Nodes, v.Edges, len(v.Status.Pairs))
	}
	if got := strings.Count(v.SVG, `class="edge `); got != 15 {
		t.Errorf("svg has %d edges, want 15", got)
	}

	var ns []gridapi.Network
	if code, _ := call(t, s, base, "GET", "/api/networks", nil, &ns); code != 200 || len(ns) != 1 || ns[0].ID != id {
		t.Fatalf("networks: %d %+v", code, ns)
	}

	// create: bad input names its field, nothing is created
	bad := []struct {
		body  any
		field string
	}{
		{map[string]any{"name": "x y", "range": "10.1.0.0/16", "nodes": []string{}}, "name"},
		{map[string]any{"name": "two", "range": "10.1.0.0/33", "nodes": []string{}}, "ip_range"},
		{map[string]any{"name": "two", "range": "10.1.0.0/16", "nodes": []string{"nosuchnode"}}, ""},
		{map[string]any{"name": "two", "range": "10.1.0.0/16", "extra": 1}, ""},
	}
	for _, b := range bad {
		code, msg := call(t, s, base, "POST", "/api/networks", b.body, nil)
		if code/100 != 4 || !strings.Contains(msg, b.field) {
			t.Errorf("create %v: %d %s; want 4xx naming %q", b.body, code, msg, b.field)
		}
	}
	var created gridapi.Network
	code, msg := call(t, s, base, "POST", "/api/networks", map[string]any{"name": "two", "range": "10.1.0.0/16", "nodes": []string{w.nodes[0].name, w.nodes[1].name}}, &created)
	if code != 201 || len(created.Members) != 2 {
		t.Fatalf("create: %d %s", code, msg)
	}

	// add and remove a member
	var n gridapi.Network
	if code, msg := call(t, s, base, "POST", "/api/networks/"+created.ID+"/nodes", map[string]string{"node": w.nodes[2].name}, &n); code != 200 || len(n.Members) != 3 {
		t.Fatalf("add node: %d %s", code, msg)
	}
	if code, msg := call(t, s, base, "DELETE", "/api/networks/"+created.ID+"/nodes/"+w.nodes[0].name, nil, &n); code != 200 || len(n.Members) != 2 {
		t.Fatalf("remove node: %d %s", code, msg)
	}
	if code, msg := call(t, s, base, "POST", "/api/networks/"+created.ID+"/nodes", map[string]string{"node": "../x"}, nil); code != 400 || !strings.Contains(msg, "node") {
		t.Errorf("add a bad node name: %d %s", code, msg)
	}

	// a device: its file parses, its QR code is a PNG, both only through the session
	var d deviceAnswer
	if code, msg := call(t, s, base, "POST", "/api/networks/"+id+"/devices", map[string]string{"device": "laptop"}, &d); code != 201 {
		t.Fatalf("add device: %d %s", code, msg)
	}
	code, conf := call(t, s, base, "GET", d.ConfURL, nil, nil)
	if code != 200 {
		t.Fatalf("conf: %d %s", code, conf)
	}
	f, err := wgquick.Parse(strings.NewReader(conf))
	if err != nil {
		t.Fatalf("wg-quick file does not parse: %v\n%s", err, conf)
	}
	if len(f.Peers) != 1 || len(f.Interface.Address) == 0 || f.Interface.Address[0].Addr().String() != d.Address {
		t.Errorf("wg-quick file: %+v, want one peer and address %s", f, d.Address)
	}
	if code, png := call(t, s, base, "GET", d.QRURL, nil, nil); code != 200 || !strings.HasPrefix(png, "\x89PNG") {
		t.Errorf("qr: %d, not a PNG", code)
	}
	if resp, err := http.Get(base + d.ConfURL); err != nil || resp.StatusCode != 401 {
		t.Errorf("conf without the session: %v %v", resp.StatusCode, err)
	}
	if code, _ := call(t, s, base, "GET", "/api/devices/0123/x.conf", nil, nil); code != 404 {
		t.Errorf("unknown device ref: %d, want 404", code)
	}
	if code, msg := call(t, s, base, "POST", "/api/networks/"+id+"/devices", map[string]string{"device": ""}, nil); code != 400 || !strings.Contains(msg, "device") {
		t.Errorf("empty device name: %d %s", code, msg)
	}
}

// TestLive: a view follows the registry without reload, one poller per network
// whatever the number of views.
func TestLive(t *testing.T) {
	w := newWorld(t, 4)
	s, _ := w.ui(t, 50*time.Millisecond)
	ch1, stop1 := s.live.subscribe(w.network.ID)
	defer stop1()
	ch2, stop2 := s.live.subscribe(w.network.ID)
	defer stop2()
	next := func(ch <-chan []byte, pred func(View) bool) View {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case b := <-ch:
				var v View
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("%v: %s", err, b)
				}
				if pred(v) {
					return v
				}
			case <-deadline:
				t.Fatal("no matching view within 10 s")
			}
		}
	}
	allUp := func(v View) bool {
		for _, p := range v.Status.Pairs {
			if !p.Reachable {
				return false
			}
		}
		return len(v.Status.Pairs) == 12
	}
	next(ch1, allUp)
	next(ch2, allUp)
	w.report(t, 0, w.nodes[0], time.Time{}) // node000 stops hearing anyone
	v := next(ch1, func(v View) bool { return !allUp(v) })
	if !strings.Contains(v.SVG, `data-a="node000" data-b="node001" data-class="direct" data-via="" data-up="false"`) {
		t.Errorf("node000's edges not dashed:\n%s", v.SVG)
	}
	s.live.mu.Lock()
	pollers := len(s.live.nets)
	s.live.mu.Unlock()
	if pollers != 1 {
		t.Errorf("%d pollers for one network, want 1", pollers)
	}
	stop1()
	stop2()
	s.live.mu.Lock()
	pollers = len(s.live.nets)
	s.live.mu.Unlock()
	if pollers != 0 {
		t.Errorf("%d pollers after the last view left, want 0", pollers)
	}
}
