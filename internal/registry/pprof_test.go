package registry

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestListenPprof: --pprof takes only loopback addresses (the profiles are
// unauthenticated) and serves the profile index there.
func TestListenPprof(t *testing.T) {
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		if ln, err := listenPprof(bad); err == nil {
			ln.Close()
			t.Errorf("--pprof %q accepted", bad)
		} else if !strings.Contains(err.Error(), "--pprof") {
			t.Errorf("--pprof %q: error %q does not name the flag", bad, err)
		}
	}
	ln, err := listenPprof("127.0.0.1:0")
	mustOK(t, err)
	defer ln.Close()
	go http.Serve(ln, pprofMux())
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/")
	mustOK(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("profile index: %d %.200s", resp.StatusCode, body)
	}
}
