package webui

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// TestGuard: the server refuses requests without the token, from another Origin or
// site, for another Host, and changes without the header token and this Origin.
func TestGuard(t *testing.T) {
	w := newWorld(t, 3)
	s, base := w.ui(t, time.Second)
	host := strings.TrimPrefix(base, "http://")
	tok := s.token
	cookie := &http.Cookie{Name: s.cookieName(), Value: tok}
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		host                     string
		cookie                   bool
		want                     int
	}{
		{name: "no token", method: "GET", path: "/", want: 401},
		{name: "no token api", method: "GET", path: "/api/networks", want: 401},
		{name: "no token asset", method: "GET", path: "/assets/app.js", want: 401},
		{name: "wrong token", method: "GET", path: "/?token=x" + tok, want: 401},
		{name: "wrong header", method: "GET", path: "/api/networks", header: map[string]string{"X-Zosnet-Token": tok[1:]}, want: 401},
		{name: "token in URL", method: "GET", path: "/?token=" + tok, want: 200},
		{name: "cookie", method: "GET", path: "/api/networks", cookie: true, want: 200},
		{name: "header", method: "GET", path: "/api/session", header: map[string]string{"X-Zosnet-Token": tok}, want: 200},
		{name: "asset with cookie", method: "GET", path: "/assets/app.js", cookie: true, want: 200},
		{name: "other origin", method: "GET", path: "/api/networks", cookie: true, header: map[string]string{"Origin": "http://evil.example"}, want: 403},
		{name: "other port origin", method: "GET", path: "/api/networks?token=" + tok, header: map[string]string{"Origin": "http://127.0.0.1:1"}, want: 403},
		{name: "cross-site fetch", method: "GET", path: "/api/networks", cookie: true, header: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: 403},
		{name: "same-site fetch", method: "GET", path: "/api/networks", cookie: true, header: map[string]string{"Sec-Fetch-Site": "same-site"}, want: 403},
		{name: "rebinding host", method: "GET", path: "/api/networks", cookie: true, host: "evil.example:" + s.port, want: 403},
		{name: "other port host", method: "GET", path: "/api/networks", cookie: true, host: "127.0.0.1:1", want: 403},
		{name: "localhost host", method: "GET", path: "/api/networks", cookie: true, host: "localhost:" + s.port, want: 200},
		{name: "post with cookie only", method: "POST", path: "/api/networks", body: "{}", cookie: true, header: map[string]string{"Origin": s.origin}, want: 403},
		{name: "post without origin", method: "POST", path: "/api/networks", body: "{}", header: map[string]string{"X-Zosnet-Token": tok}, want: 403},
		{name: "post from other origin", method: "POST", path: "/api/networks", body: "{}", header: map[string]string{"X-Zosnet-Token": tok, "Origin": "http://evil.example"}, want: 403},
		{name: "post token in URL only", method: "POST", path: "/api/networks?token=" + tok, body: "{}", header: map[string]string{"Origin": s.origin}, want: 403},
		{name: "delete with cookie only", method: "DELETE", path: "/api/networks/x/nodes/y", cookie: true, header: map[string]string{"Origin": s.origin}, want: 403},
		{name: "post allowed (then bad body)", method: "POST", path: "/api/networks", body: "{", header: map[string]string{"X-Zosnet-Token": tok, "Origin": s.origin}, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.cookie {
				req.AddCookie(cookie)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, b)
			}
			if tt.want >= 400 && !strings.Contains(string(b), `"error"`) {
				t.Errorf("refusal without an error message: %s", b)
			}
			if tt.name == "token in URL" {
				c := resp.Header.Get("Set-Cookie")
				if !strings.Contains(c, s.cookieName()+"="+tok) || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
					t.Errorf("Set-Cookie %q: want the token, HttpOnly, SameSite=Strict", c)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "localhost:0": true, "[::1]:0": true, "127.0.0.2:0": true,
		"0.0.0.0:0": false, ":0": false, "[::]:0": false, "192.0.2.1:0": false, "example.com:0": false, "127.0.0.1": false,
	} {
		s, err := New(Config{Client: &gridapi.Client{}})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := s.Listen(addr)
		if err == nil {
			ln.Close()
		}
		if (err == nil) != ok {
			t.Errorf("Listen(%q): %v, want ok=%v", addr, err, ok)
		}
		if err != nil && ok == false && !strings.Contains(err.Error(), "--listen") {
			t.Errorf("Listen(%q): error %q does not name --listen", addr, err)
		}
	}
}

// TestPageHasOnlyTheSessionToken: the page carries the session token and nothing from
// the user's key or the registry's answers.
func TestPageHasOnlyTheSessionToken(t *testing.T) {
	w := newWorld(t, 2)
	s, base := w.ui(t, time.Second)
	resp, err := http.Get(base + "/?token=" + s.token)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `content="`+s.token+`"`) {
		t.Error("page lacks the session token")
	}
	for _, asset := range []string{"https://", "http://", "//cdn"} {
		if strings.Contains(string(b), "src=\""+asset) || strings.Contains(string(b), "href=\""+asset) {
			t.Errorf("page loads %s… from elsewhere", asset)
		}
	}
}
