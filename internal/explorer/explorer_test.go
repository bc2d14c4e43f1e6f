package explorer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/registry"
	"github.com/zosnet/zosnet/internal/webui/browsertest"
)

// grid starts a real registry with one farm: pub1 (public IPv4), pub2 (farmer's public
// config with a gateway domain) and hid1 (hidden, behind NAT).
func grid(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	st, err := registry.OpenSQLite(ctx, filepath.Join(t.TempDir(), "grid.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := registry.New(ctx, registry.Config{Store: st, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); cancel(); st.Close() })
	key := func() *identity.Key {
		k, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	farmer := &gridapi.Client{Base: hs.URL, Key: key()}
	farm, err := farmer.CreateFarm(ctx, gridapi.FarmCreate{Name: "myfarm"})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"pub1", "pub2", "hid1"} {
		c := &gridapi.Client{Base: hs.URL, Key: key()}
		n, err := c.Register(ctx, gridapi.NodeRegister{FarmID: farm.ID, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("192.168.1.%d", 10+i)
		f := gridapi.NodeFacts{Hidden: true}
		if name == "pub1" {
			addr = "203.0.113.10"
			f = gridapi.NodeFacts{Endpoints: []gridapi.Endpoint{{IP: addr, Family: 4, Reason: "public-ipv4"}}}
		}
		f.NICs = []gridapi.NIC{{Name: "eth0", MAC: fmt.Sprintf("02:00:00:00:00:%02x", i), Up: true, Addrs: []string{addr + "/24"}}}
		if err := c.ReportFacts(ctx, n.ID, f); err != nil {
			t.Fatal(err)
		}
		if name == "pub2" {
			pc := gridapi.PublicConfig{IPv4: "203.0.113.11/24", GW4: "203.0.113.1", Domain: "gw.example.org"}
			if _, err := farmer.SetPublicConfig(ctx, n.ID, pc); err != nil {
				t.Fatal(err)
			}
			f.Hidden, f.Endpoints = false, []gridapi.Endpoint{{IP: "203.0.113.11", Family: 4, Reason: "public-config"}}
			if err := c.ReportFacts(ctx, n.ID, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return hs.URL
}

func TestServedByRegistry(t *testing.T) {
	base := grid(t)
	for path, want := range map[string]string{"/explorer/": "zosnet grid explorer", "/explorer/explorer.js": "visibility", "/": "zosnet grid explorer"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		// The whole body: one Read may return only the first chunk.
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: reading the body: %v", path, err)
		}
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, want 200 with %q", path, resp.Status, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); path != "/" && !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
}

// TestExplorer drives the explorer in chromium: the nodes with their public/hidden
// flags and reasons, the gateway domain, search and filters, a node's page.
func TestExplorer(t *testing.T) {
	base := grid(t)
	ctx := browsertest.New(t, nil)
	browsertest.Do(t, ctx, "open the explorer", 30*time.Second, chromedp.Navigate(base+"/explorer/"))
	browsertest.Wait[bool](t, ctx, "three nodes", `document.querySelectorAll("#nodes tbody tr").length === 3`, 20*time.Second)
	vis := browsertest.Eval[map[string]string](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll("#nodes tbody tr")).map(r => [r.dataset.node, r.cells[4].textContent + "|" + r.cells[5].textContent + "|" + r.cells[6].textContent]))`)
	for node, want := range map[string][]string{
		"pub1": {"public|", "a public IPv4 address on a NIC", "203.0.113.10", "|–"},
		"pub2": {"public|", "the farmer's public config", "|gw.example.org"},
		"hid1": {"hidden|", "no public config"},
	} {
		for _, w := range want {
			if !strings.Contains(vis[node], w) {
				t.Errorf("%s: %q lacks %q", node, vis[node], w)
			}
		}
	}
	browsertest.Screenshot(t, ctx, "explorer")
	browsertest.Do(t, ctx, "filter hidden", 10*time.Second, chromedp.Evaluate[chromedp.Void](`void (document.getElementById("f-vis").value = "hidden", document.getElementById("f-vis").dispatchEvent(new Event("input")))`))
	browsertest.Wait[bool](t, ctx, "only hid1", `document.querySelectorAll("#nodes tbody tr").length === 1 && document.querySelector("#nodes tbody tr").dataset.node === "hid1"`, 10*time.Second)
	browsertest.Do(t, ctx, "search", 10*time.Second, chromedp.Evaluate[chromedp.Void](`void (document.getElementById("f-vis").value = "")`), chromedp.SendKeys("#q", "gw.example"))
	browsertest.Wait[bool](t, ctx, "only pub2", `document.querySelectorAll("#nodes tbody tr").length === 1 && document.querySelector("#nodes tbody tr").dataset.node === "pub2"`, 10*time.Second)
	browsertest.Do(t, ctx, "open pub2's page", 10*time.Second, chromedp.Click("#nodes tbody tr a"))
	browsertest.Wait[bool](t, ctx, "pub2's page", `document.getElementById("node-h").textContent === "Node pub2" && document.querySelectorAll("#node-nics tbody tr").length === 1 && document.getElementById("node-facts").textContent.includes("gw.example.org")`, 10*time.Second)
	browsertest.Screenshot(t, ctx, "node")
}
