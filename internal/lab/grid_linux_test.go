package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/boot"
	"github.com/zosnet/zosnet/internal/cli"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/nodeagent"
	"github.com/zosnet/zosnet/internal/registry"
	"github.com/zosnet/zosnet/internal/testkit"
)

// gridRole makes this test binary play a zosnet program in TestGrid's lab.
const gridRole = "ZOSLAB_TEST_GRID_ROLE"

func init() {
	role := os.Getenv(gridRole)
	if role == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch role {
	case "registry":
		os.Exit(registry.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
	case "zosnet":
		os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
	case "netinit":
		os.Exit(boot.Main(os.Args[1:], os.Stdout, os.Stderr))
	case "networkd": // stand-in: only networkd's registry side (nodeagent)
		os.Exit(gridAgent(ctx))
	case "provisiond": // stand-in: writes every desired state it gets to the state dir
		os.Exit(gridWatcher(ctx))
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	os.Exit(2)
}

// gridNode loads the node as provisiond does and starts its agent (registration,
// facts from netlink) until ctx ends.
func gridNode(ctx context.Context) (*nodeagent.Node, *nodeagent.Agent, error) {
	n, err := nodeagent.LoadNode(nodeagent.NodeOptions{Version: "test"})
	if err != nil {
		return nil, nil, err
	}
	a, err := n.NewAgent(ctx)
	if err != nil {
		return nil, nil, err
	}
	go func() {
		if err := a.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "agent:", err)
		}
	}()
	return n, a, nil
}

func gridAgent(ctx context.Context) int {
	if _, _, err := gridNode(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 1
	}
	<-ctx.Done()
	return 0
}

func gridWatcher(ctx context.Context) int {
	n, a, err := gridNode(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "watcher:", err)
		return 1
	}
	select {
	case <-a.Registered():
	case <-ctx.Done():
		return 0
	}
	w := &nodeagent.Watcher{Client: n.Client, NodeID: a.NodeID(), Apply: func(_ context.Context, d gridapi.Desired) error {
		b, _ := json.Marshal(d)
		p := filepath.Join(os.Getenv("ZOSNET_STATE_DIR"), "desired.json")
		if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
			return err
		}
		return os.Rename(p+".tmp", p)
	}}
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "watcher:", err)
		return 1
	}
	return 0
}

func gridBinDir(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, role := range []string{"registry", "zosnet", "netinit", "networkd", "provisiond"} {
		script := fmt.Sprintf("#!/bin/sh\n%s=%s exec %s \"$@\"\n", gridRole, role, exe)
		if err := os.WriteFile(filepath.Join(dir, role), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestGrid: `zoslab up` with the registry runs it over HTTPS with the lab's CA, makes
// the farmer and user profiles on the user host and the farm; every node registers
// with its NICs; the farmer sets farm1's public config with the CLI from the user host
// and farm1's watcher gets it.
func TestGrid(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	bin := gridBinDir(t)
	l := upLab(t, DefaultSpec(), Options{BinDir: bin, Boot: true, BootTimeout: time.Minute})
	var nodes []gridapi.Node
	if err := poll(context.Background(), 60*time.Second, func() bool {
		out, err := l.zosnet(context.Background(), bin, "node", "list", "--json")
		nodes = nil
		if err != nil || json.Unmarshal(out, &nodes) != nil || len(nodes) != len(l.st.Spec.Nodes) {
			return false
		}
		for _, n := range nodes {
			if len(n.Facts.NICs) == 0 || !n.Online {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("nodes with NICs in the registry: %d of %d (%v): %+v", len(nodes), len(l.st.Spec.Nodes), err, nodes)
	}
	byName := map[string]gridapi.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	if home1 := byName["home1"]; !home1.Facts.Hidden || home1.SourceAddr != "198.51.100.3" {
		t.Errorf("home1 (behind the home NAT) must be hidden, seen from the home router's address: %+v", home1)
	}
	if byName["home1"].SourceAddr != byName["home2"].SourceAddr {
		t.Errorf("home1 and home2 share a NAT: source %s vs %s", byName["home1"].SourceAddr, byName["home2"].SourceAddr)
	}
	// `zoslab exec user -- zosnet node list` finds the lab's config by itself
	if out := run(t, l, "user", filepath.Join(bin, "zosnet"), "node", "list"); !strings.Contains(out, "farm1") {
		t.Errorf("zosnet node list in the user host: %s", out)
	}
	if _, err := l.zosnet(context.Background(), bin, "node", "public-config", "set", "farm1",
		"--ipv4", "203.0.113.10/24", "--gw4", "203.0.113.1", "--profile", "farmer"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.zosnet(context.Background(), bin, "node", "public-config", "set", "farm2",
		"--ipv4", "203.0.113.11/24", "--gw4", "203.0.113.1", "--profile", "user"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("the user set a public config: %v", err)
	}
	state := filepath.Join(l.NodeDir("farm1"), "state", "desired.json")
	if err := poll(context.Background(), 10*time.Second, func() bool {
		var d gridapi.Desired
		b, err := os.ReadFile(state)
		return err == nil && json.Unmarshal(b, &d) == nil && d.PublicConfig != nil && d.PublicConfig.IPv4 == "203.0.113.10/24"
	}); err != nil {
		b, _ := os.ReadFile(state)
		t.Fatalf("farm1 did not get its public config: %v (%s)", err, b)
	}
}
