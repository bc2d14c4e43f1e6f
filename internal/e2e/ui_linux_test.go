package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/plan"
	"github.com/zosnet/zosnet/internal/webui/browsertest"
	"github.com/zosnet/zosnet/internal/wgquick"
)

// TestUI drives the explorer and `zosnet ui` in chromium inside the lab's user host,
// against the booted default farm with its six-node network up (issue 15).
func TestUI(t *testing.T) {
	m := upMesh(t)
	ctx := context.Background()
	nodes := scenario.Names(lab.DefaultSpec())
	n, err := m.CreateNetwork(ctx, "ui", "10.100.0.0/16", nodes)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second)
	if err != nil {
		t.Fatalf("network %s did not come up: %v", n.ID, err)
	}
	err = scenario.Poll(ctx, 120*time.Second, func() error {
		st, err = m.Status(ctx, n.ID)
		if err != nil {
			return err
		}
		if want := len(nodes) * (len(nodes) - 1); len(st.Pairs) < want {
			return fmt.Errorf("%d pairs in status, want %d", len(st.Pairs), want)
		}
		for _, p := range st.Pairs {
			if !p.Reachable {
				return fmt.Errorf("%s→%s not reachable", p.From, p.To)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t, func(cmd *exec.Cmd) { inLab(t, m, cmd) })

	t.Run("explorer", func(t *testing.T) {
		var grid []gridapi.Node
		if err := m.Zosnet(ctx, &grid, "node", "list"); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, nd := range grid {
			want[nd.Name] = map[bool]string{true: "hidden", false: "public"}[nd.Facts.Hidden]
		}
		browsertest.Do(t, b, "open the explorer", 30*time.Second, chromedp.Navigate("https://198.51.100.10:8443/explorer/"))
		browsertest.Wait[bool](t, b, "six nodes", `document.querySelectorAll("#nodes tbody tr").length === 6`, 30*time.Second)
		got := browsertest.Eval[map[string]string](t, b, `Object.fromEntries(Array.from(document.querySelectorAll("#nodes tbody tr")).map(r => [r.dataset.node, r.cells[4].textContent]))`)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("explorer shows %v, the registry says %v", got, want)
		}
		browsertest.Screenshot(t, b, "explorer")
	})

	url := startUI(t, m)
	browsertest.Do(t, b, "open zosnet ui", 30*time.Second, chromedp.Navigate(url))
	browsertest.Wait[bool](t, b, "the graph", `document.querySelectorAll("#graph svg g.node").length === 6 && document.querySelectorAll("#graph svg line.edge").length === 15`, 30*time.Second)

	t.Run("graph matches status", func(t *testing.T) {
		err := scenario.Poll(ctx, 20*time.Second, func() error {
			st, err := m.Status(ctx, n.ID)
			if err != nil {
				return err
			}
			got := edgesShown(t, b)
			if want := edgesOf(st); got != want {
				return fmt.Errorf("page shows\n%s\nstatus says\n%s", got, want)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		browsertest.Screenshot(t, b, "graph")
	})

	t.Run("relay down dashes its edges and back", func(t *testing.T) {
		relay := st.Relays[0]
		incident := fmt.Sprintf(`Array.from(document.querySelectorAll("#graph line.edge")).filter(e => e.dataset.a === %q || e.dataset.b === %q)`, relay, relay)
		t0 := time.Now()
		stopService(t, m.Lab.Name(), relay, "networkd")
		browsertest.Wait[bool](t, b, relay+"'s edges dashed", incident+`.every(e => e.dataset.up === "false")`, 90*time.Second)
		t.Logf("%s's 5 edges dashed %s after its networkd stopped", relay, since(t0))
		browsertest.Screenshot(t, b, "relay-down")
		t1 := time.Now()
		if err := m.Lab.StartService(ctx, relay, "networkd"); err != nil {
			t.Fatal(err)
		}
		browsertest.Wait[bool](t, b, relay+"'s edges back", incident+`.every(e => e.dataset.up === "true")`, 120*time.Second)
		t.Logf("%s's edges solid again %s after its networkd started", relay, since(t1))
		browsertest.Screenshot(t, b, "relay-back")
	})

	t.Run("create a network and add a device from the page", func(t *testing.T) {
		browsertest.Do(t, b, "fill the create form", 20*time.Second,
			chromedp.Click("#create-box summary"),
			chromedp.SendKeys("#c-name", "fromui"),
			chromedp.Evaluate[chromedp.Void](`void (document.getElementById("c-range").value = "10.101.0.0/16")`),
			chromedp.Evaluate[chromedp.Void](`void Array.from(document.querySelectorAll("#c-nodes input")).filter(c => c.value === "farm1" || c.value === "home1").forEach(c => c.click())`),
			chromedp.Click("#create button[type=submit]"),
		)
		browsertest.Wait[bool](t, b, "the new network", `document.getElementById("net-h").textContent === "Network fromui" && document.querySelectorAll("#graph g.node").length === 2`, 30*time.Second)
		id := browsertest.Eval[string](t, b, `document.body.dataset.network`)
		if _, err := m.WaitUp(ctx, id, 2, 90*time.Second); err != nil {
			t.Fatalf("network fromui (%s) did not come up: %v", id, err)
		}
		browsertest.Do(t, b, "add a device", 20*time.Second, chromedp.SendKeys("#ad-name", "phone"), chromedp.Click("#add-device button[type=submit]"))
		browsertest.Wait[bool](t, b, "the device's files", `!document.getElementById("device-out").hidden && document.getElementById("device-qr").naturalWidth > 0`, 90*time.Second)
		conf := browsertest.EvalAsync[string](t, b, `fetch(document.getElementById("device-conf").href).then(r => r.text())`)
		f, err := wgquick.Parse(strings.NewReader(conf))
		if err != nil || len(f.Peers) != 1 || !f.Peers[0].Endpoint.IsValid() {
			t.Fatalf("device file: %v %+v", err, f)
		}
		var net gridapi.Network
		if err := m.Zosnet(ctx, &net, "network", "show", id); err != nil {
			t.Fatal(err)
		}
		if len(net.AccessPeers) != 1 || net.AccessPeers[0].Name != "phone" || net.AccessPeers[0].Address != f.Interface.Address[0].String() {
			t.Errorf("registry's access peers %+v, the file's address %v", net.AccessPeers, f.Interface.Address)
		}
		browsertest.Screenshot(t, b, "device")
	})
}

// inLab rewrites the browser's command to run in the lab's user host (its network
// namespace, through nsenter): every lab address it opens stays in the lab. The devtools
// pipe (fds 3 and 4) passes through nsenter.
func inLab(t *testing.T, m *scenario.Mesh, cmd *exec.Cmd) {
	c, err := m.Lab.Command(context.Background(), lab.UserHost, cmd.Args...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Path, cmd.Args = c.Path, c.Args
	cmd.Env = append(append(os.Environ(), cmd.Env...), c.Env...)
}

// startUI runs `zosnet ui` on the user host and returns the URL it prints.
func startUI(t *testing.T, m *scenario.Mesh) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := m.Lab.Command(ctx, lab.UserHost, m.ZosnetPath(), "ui", "--refresh", "1s", "--json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	var res struct{ URL string }
	if err := json.NewDecoder(bufio.NewReader(out)).Decode(&res); err != nil || !strings.HasPrefix(res.URL, "http://127.0.0.1:") {
		t.Fatalf("zosnet ui printed %+v: %v", res, err)
	}
	return res.URL
}

// edgesShown lists the page's edges as "a-b class via" lines, sorted.
func edgesShown(t *testing.T, b context.Context) string {
	lines := browsertest.Eval[[]string](t, b, `Array.from(document.querySelectorAll("#graph line.edge")).map(e => e.dataset.a + "-" + e.dataset.b + " " + e.dataset.class + " " + e.dataset.via)`)
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// edgesOf lists a status's unordered pairs the same way (the lower name's view).
func edgesOf(st plan.NetworkStatus) string {
	var lines []string
	for _, p := range st.Pairs {
		if p.From < p.To {
			lines = append(lines, p.From+"-"+p.To+" "+string(p.Path)+" "+p.Via)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
