package webui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zosnet/zosnet/internal/webui/browsertest"
)

// TestBrowser drives the page in a real chromium against a registry with simulated
// nodes: the graph, its live update, creating a network and adding a device.
func TestBrowser(t *testing.T) {
	w := newWorld(t, 6)
	s, base := w.ui(t, 200*time.Millisecond)
	ctx := browsertest.New(t, nil)
	browsertest.Do(t, ctx, "open the page", 30*time.Second, chromedp.Navigate(base+"/?token="+s.token))
	browsertest.Wait[bool](t, ctx, "the graph", `document.querySelectorAll("#graph svg g.node").length === 6 && document.querySelectorAll("#graph svg line.edge").length === 15`, 20*time.Second)
	if loc := browsertest.Eval[string](t, ctx, `location.href`); strings.Contains(loc, s.token) {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}
	rows := browsertest.Eval[int](t, ctx, `document.querySelectorAll("#pairs tbody tr").length`)
	if rows != 30 {
		t.Errorf("pair table has %d rows, want 30", rows)
	}
	// every graph node is reachable by keyboard and says what it is
	labels := browsertest.Eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#graph g.node[tabindex='0']")).map(n => n.getAttribute("aria-label"))`)
	if len(labels) != 6 || !strings.Contains(labels[0], "node000: public") {
		t.Errorf("graph nodes' labels: %q", labels)
	}
	browsertest.Screenshot(t, ctx, "graph")

	// node000 stops hearing its peers: its edges turn dashed without a reload
	w.report(t, 0, w.nodes[0], time.Time{})
	browsertest.Wait[bool](t, ctx, "node000's edges dashed", `Array.from(document.querySelectorAll("#graph line.edge[data-a='node000']")).every(e => e.dataset.up === "false" && e.getAttribute("stroke-dasharray"))`, 10*time.Second)
	others := browsertest.Eval[int](t, ctx, `document.querySelectorAll("#graph line.edge[data-up='false']:not([data-a='node000'])").length`)
	if others != 0 {
		t.Errorf("%d edges not involving node000 are dashed", others)
	}
	w.report(t, 0, w.nodes[0], time.Now())
	browsertest.Wait[bool](t, ctx, "node000's edges back", `document.querySelectorAll("#graph line.edge[data-up='false']").length === 0`, 10*time.Second)

	// create a network from the form
	browsertest.Do(t, ctx, "fill the create form", 20*time.Second,
		chromedp.Click("#create-box summary"),
		chromedp.SendKeys("#c-name", "fromui"),
		chromedp.Click(fmt.Sprintf("#c-node-%d", w.nodes[1].id)),
		chromedp.Click(fmt.Sprintf("#c-node-%d", w.nodes[2].id)),
		chromedp.Click("#create button[type=submit]"),
	)
	browsertest.Wait[bool](t, ctx, "the new network shown", `document.getElementById("net-h").textContent === "Network fromui" && document.querySelectorAll("#graph g.node").length === 2`, 20*time.Second)
	ns, err := w.user.Networks(t.Context(), w.user.Key.ID())
	if err != nil || len(ns) != 2 {
		t.Fatalf("registry has %d networks (%v), want 2", len(ns), err)
	}

	// add a device to demo from the form: a download link and a QR code
	browsertest.Do(t, ctx, "add a device", 30*time.Second,
		chromedp.Click(fmt.Sprintf("#networks button[data-id='%s']", w.network.ID)),
		chromedp.WaitVisible("#ad-name"),
		chromedp.SendKeys("#ad-name", "phone"),
		chromedp.Click("#add-device button[type=submit]"),
	)
	browsertest.Wait[bool](t, ctx, "the device's files", `!document.getElementById("device-out").hidden && document.getElementById("device-qr").complete && document.getElementById("device-qr").naturalWidth > 0`, 20*time.Second)
	conf := browsertest.EvalAsync[string](t, ctx, `fetch(document.getElementById("device-conf").href).then(r => r.text())`)
	if !strings.Contains(conf, "[Interface]") || !strings.Contains(conf, "PrivateKey") {
		t.Errorf("downloaded file is not a wg-quick file:\n%s", conf)
	}
	browsertest.Screenshot(t, ctx, "device")
}
