package public_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// bins builds networkd and zosnet once per test process.
func bins(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "zosnet-uplink-bin")
		for _, c := range []string{"networkd", "zosnet"} {
			if binErr != nil {
				return
			}
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "github.com/zosnet/zosnet/cmd/"+c).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("build %s: %w: %s", c, err, out)
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// zosnet runs the CLI inside node with --json and decodes its answer into v.
func zosnet(t *testing.T, l *lab.Lab, node string, stdin []byte, v any, args ...string) error {
	t.Helper()
	cmd, err := l.Command(context.Background(), node, append([]string{filepath.Join(bins(t), "zosnet")}, append(args, "--json")...)...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("zosnet %v on %s: %w: %s", args, node, err, errb.String())
	}
	if v != nil {
		return json.Unmarshal(out.Bytes(), v)
	}
	return nil
}

// startNetworkd boots zos with a lease (what netinit will do) and runs networkd in node.
func startNetworkd(t *testing.T, l *lab.Lab, node string) {
	t.Helper()
	makeZos(t, openNS(t, fmt.Sprintf("/proc/%d/ns/net", l.NodePID(node))))
	if _, _, err := l.Lease(context.Background(), node, "zos", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	cmd, err := l.Command(context.Background(), node, filepath.Join(bins(t), "networkd"), "--state-dir", lab.NodeStateDir+"/networkd")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	cmd.WaitDelay = time.Second // nsenter forks: networkd ends with the node (lab down)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("networkd on %s:\n%s", node, logs.String())
		}
	})
}

// waitStatus polls `zosnet node status --json` on node until ok accepts it.
func waitStatus(t *testing.T, l *lab.Lab, node string, ok func(nodeapi.NodeStatus) bool) nodeapi.NodeStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st nodeapi.NodeStatus
	var err error
	for time.Now().Before(deadline) {
		st = nodeapi.NodeStatus{}
		if err = zosnet(t, l, node, nil, &st, "node", "status"); err == nil && st.Managed && ok(st) {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: status never as expected (last error %v): %+v", node, err, st)
	return st
}

// TestAcceptanceNodeStatus: networkd runs on every lab node; `zosnet node status
// --json` shows uplinks, endpoints and the top-level hidden flag matching the lab's
// truth; on farm1 a public config set and unset with the CLI adds and removes the IPv4
// endpoint live, and an NR made through the API gets its uplink (its workload reaches
// the internet).
func TestAcceptanceNodeStatus(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	bins(t)
	l := upLab(t)
	truth := map[string]bool{"farm1": false, "farm2": false, "farm3": true, "home1": true, "home2": true, "home6": true}
	for node := range truth {
		startNetworkd(t, l, node)
	}
	for node, hidden := range truth {
		st := waitStatus(t, l, node, func(st nodeapi.NodeStatus) bool { return st.Hidden == hidden })
		if len(st.Uplinks) < 3 {
			t.Errorf("%s: uplinks %+v, want zos, br-pub and ndmz", node, st.Uplinks)
		}
		t.Logf("%s: hidden=%v br-pub=%s endpoints=%v", node, st.Hidden, st.Uplinks[1].Mode, st.Endpoints)
	}
	var pc nodeapi.PublicConfigState
	if err := zosnet(t, l, "farm1", nil, &pc, "node", "public-config", "set", "--ipv4", "203.0.113.10/24", "--gw4", "203.0.113.1"); err != nil {
		t.Fatal(err)
	}
	has4 := func(st nodeapi.NodeStatus) bool {
		for _, e := range st.Endpoints {
			if e.Addr == netip.MustParseAddr("203.0.113.10") {
				return true
			}
		}
		return false
	}
	waitStatus(t, l, "farm1", func(st nodeapi.NodeStatus) bool { return has4(st) && st.SocketNamespace == "public" && !st.Hidden })
	if err := zosnet(t, l, "farm1", nil, nil, "node", "public-config", "set", "--ipv4", "10.0.0.1/24", "--gw4", "10.0.0.254"); err == nil ||
		!strings.Contains(err.Error(), "ipv4") {
		t.Errorf("a private public config must be refused naming ipv4, got %v", err)
	}
	if err := zosnet(t, l, "farm1", nil, &pc, "node", "public-config", "unset"); err != nil || pc.Config != nil {
		t.Fatalf("unset: %v %+v", err, pc)
	}
	waitStatus(t, l, "farm1", func(st nodeapi.NodeStatus) bool { return !has4(st) && st.SocketNamespace == "host" && !st.Hidden })

	spec := []byte(`{"network_id":"acc1","ip_range":"10.7.0.0/16","subnet":"10.7.1.0/24","peers":[]}`)
	if err := zosnet(t, l, "farm1", spec, nil, "node", "nr", "apply", "-"); err != nil {
		t.Fatal(err)
	}
	var w nodeapi.Workload
	if err := zosnet(t, l, "farm1", nil, &w, "node", "workload", "add", "acc1", "w1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd, _ := l.Command(context.Background(), "farm1", "nsenter", "--net=/run/netns/"+w.Netns, "ping", "-c1", "-W1", "-n", registry4.String())
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workload made through the API cannot reach the internet: %v: %s", err, out)
		}
	}
}
