package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/testkit"
)

// buildBins builds the real binaries a booted lab runs into a temporary directory.
func buildBins(t testing.TB) string {
	t.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("module root: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/netinit", "./cmd/networkd", "./cmd/provisiond", "./cmd/registry", "./cmd/zosnet",
		"./cmd/zoslab", "github.com/letsencrypt/pebble/v2/cmd/pebble")
	cmd.Dir = strings.TrimSpace(string(root))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// upMesh brings the default farm up booted (registry, netinit, networkd, provisiond)
// and takes it down at cleanup, device tunnel included.
func upMesh(t testing.TB) *scenario.Mesh {
	t.Helper()
	return upMeshSpec(t, lab.DefaultSpec(), true)
}

// upMeshSpec boots spec with the whole OS on every node (registry, netinit, networkd,
// provisiond); publicConfigs makes the lab's farmer give farm1/farm2 public configs.
func upMeshSpec(t testing.TB, spec *lab.Spec, publicConfigs bool) *scenario.Mesh {
	t.Helper()
	return upMeshOpts(t, spec, lab.Options{PublicConfigs: publicConfigs})
}

// upMeshOpts is upMeshSpec with more options (Name, BinDir, Boot and Log are set here).
func upMeshOpts(t testing.TB, spec *lab.Spec, o lab.Options) *scenario.Mesh {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	bin := buildBins(t)
	name := testkit.Name("me")
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := &scenario.Mesh{BinDir: bin}
	t.Cleanup(func() {
		if m.Lab != nil {
			m.RemoveDevice(ctx)
			if t.Failed() {
				dumpLogs(t, name)
			}
		}
		if t.Failed() && os.Getenv(keepLabEnv) != "" && !testkit.InCI() {
			t.Logf("%s: lab %s kept for a look; remove it with `bin/zoslab down --name %s`", keepLabEnv, name, name)
			return
		}
		if err := lab.Down(ctx, name); err != nil {
			t.Errorf("lab down: %v", err)
		}
		os.Remove("/run/wireguard/wz" + name + ".sock")
	})
	o.Name, o.BinDir, o.Boot, o.Log = name, bin, true, log
	l, err := lab.Up(ctx, spec, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	m.Lab = l
	return m
}

// keepLabEnv, set outside CI, keeps a failed test's lab up for a look (zoslab exec,
// the nodes' logs under /run/zoslab/NAME); the developer removes it.
const keepLabEnv = "ZOSNET_KEEP_LAB"

func dumpLogs(t testing.TB, name string) {
	logs, _ := filepath.Glob(filepath.Join(lab.StateRoot, name, "nodes", "*", "state", "log", "provisiond.log"))
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Logf("%s (tail):\n%s", p, b)
	}
}

// nftCounter installs table inet e2e in a namespace with one counting rule (match is
// nft syntax) in a forward chain, and returns a function that reads the packet count.
func nftCounter(t testing.TB, m *scenario.Mesh, where string, inNS string, match string) func() int {
	t.Helper()
	ctx := context.Background()
	rules := fmt.Sprintf("table inet e2e {\n chain count {\n type filter hook forward priority -10; policy accept;\n %s counter\n }\n}\n", match)
	argv := []string{"nft", "-f", "-"}
	list := []string{"nft", "list", "table", "inet", "e2e"}
	if inNS != "" {
		argv = append([]string{"ip", "netns", "exec", inNS}, argv...)
		list = append([]string{"ip", "netns", "exec", inNS}, list...)
	}
	cmd, err := m.Lab.Command(ctx, where, argv...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: nft: %v: %s", where, err, out)
	}
	re := regexp.MustCompile(`counter packets (\d+)`)
	return func() int {
		out, err := m.Run(ctx, where, list...)
		if err != nil {
			t.Fatal(err)
		}
		mm := re.FindSubmatch(out)
		if mm == nil {
			t.Fatalf("%s: no counter in %s", where, out)
		}
		n, _ := strconv.Atoi(string(mm[1]))
		return n
	}
}

// cutCables unplugs every NIC of a lab node (its switch ports go down: the node sees
// no carrier, and nothing it still has in its kernel reaches anyone) and returns the
// function that plugs them back in.
func cutCables(t testing.TB, m *scenario.Mesh, node string) func() {
	t.Helper()
	var nics []string
	for _, n := range m.Lab.Spec().Nodes {
		if n.Name == node {
			for _, c := range n.NICs {
				nics = append(nics, c.Name)
			}
		}
	}
	if len(nics) == 0 {
		t.Fatalf("cut cables: no NICs for node %s", node)
	}
	for _, nic := range nics {
		if err := m.Lab.SetCarrier(node, nic, false); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, nic := range nics {
			if err := m.Lab.SetCarrier(node, nic, true); err != nil {
				t.Errorf("plug %s/%s back in: %v", node, nic, err)
			}
		}
	}
}

// stopService stops a lab node's service (lab.StopService: SIGTERM, waits for its
// end); node "" is the registry.
func stopService(t testing.TB, labName, node, svc string) {
	t.Helper()
	l, err := lab.Open(labName)
	if err != nil {
		t.Fatal(err)
	}
	if node == "" {
		node = lab.Registry
	}
	if err := l.StopService(context.Background(), node, svc, 10*time.Second); err != nil {
		t.Fatalf("stop %s on %s: %v", svc, node, err)
	}
}

// signalService sends sig to a lab node's running service (lab.ServicePIDs), e.g.
// SIGKILL for a crash.
func signalService(t testing.TB, labName, node, svc string, sig syscall.Signal) {
	t.Helper()
	l, err := lab.Open(labName)
	if err != nil {
		t.Fatal(err)
	}
	pids := l.ServicePIDs(node, svc)
	if len(pids) == 0 {
		t.Fatalf("no %s running on %s", svc, node)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatalf("signal %v to %s on %s (pid %d): %v", sig, svc, node, pid, err)
		}
	}
}

// since formats a duration for logs.
func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

// iperfMbit is the receiver's Mbit/s in iperf3's JSON report (-J).
func iperfMbit(out []byte) (float64, error) {
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	err := json.Unmarshal(out, &res)
	return res.End.SumReceived.BitsPerSecond / 1e6, err
}
