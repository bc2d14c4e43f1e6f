package boot

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/dhcp/dhcptest"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// The test binary doubles as netinit (and its keeper), as a registry stub and as a
// node inspector, by this variable.
const roleEnv = "ZOSNET_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "netinit":
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	case "registry":
		os.Exit(serveRegistry())
	case "inspect":
		os.Exit(inspect())
	}
	os.Exit(m.Run())
}

// netinitCmd runs this binary as netinit inside ns, like the lab does on a node.
func netinitCmd(t *testing.T, ns *netns.NS, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), roleEnv+"=netinit")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := ns.Do(cmd.Start); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("netinit: %v", err)
	}
	return code, out.String(), errb.String()
}

// keeperCleanup makes this process the reaper of the detached keeper (so the leak
// check sees it) and stops it when the test ends.
func keeperCleanup(t *testing.T, runDir string) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pid := readPID(filepath.Join(runDir, KeeperPID)); pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(runDir, KeeperLog))
			t.Logf("keeper log:\n%s", b)
		}
	})
}

func writeCmdline(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNetinitProcess runs netinit as a process in the node namespace: exit 0 once the
// registry answers, a keeper left holding the lease in that namespace, a second run
// that changes nothing, and a malformed command line that stops with exit 2.
func TestNetinitProcess(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	f := newFarm(t, 2)
	dhcptest.StartDnsmasq(t, f.farm, dhcptest.Server{Iface: "f1", Range: "10.1.0.100,10.1.0.150"})
	f.registry(t, "10.1.0.1:8080")
	runDir := t.TempDir()
	keeperCleanup(t, runDir)
	flags := []string{"--cmdline", writeCmdline(t, "quiet farmer_id=1 zosnet.registry=http://10.1.0.1:8080"),
		"--run-dir", runDir, "--resolv-conf", filepath.Join(runDir, "resolv.conf"), "--timeout", "60s", "--probe-round", "4s"}

	code, out, errs := netinitCmd(t, f.node, flags...)
	if code != 0 || !strings.Contains(out, "eth1 on zos") {
		t.Fatalf("netinit exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	pid := readPID(filepath.Join(runDir, KeeperPID))
	if pid <= 0 || !sameNetns(t, pid, f.node) {
		t.Fatalf("no keeper in the node namespace (pid %d)", pid)
	}
	if l := loadLease(filepath.Join(runDir, LeaseFile), testLog()); l == nil || !strings.HasPrefix(l.Addr.String(), "10.1.0.") {
		t.Fatalf("saved lease %v", l)
	}

	code, out, errs = netinitCmd(t, f.node, flags...)
	if code != 0 || !strings.Contains(out, "reused=true") || readPID(filepath.Join(runDir, KeeperPID)) != pid {
		t.Fatalf("second run: exit %d, keeper %d (was %d)\nstdout: %s\nstderr: %s", code, readPID(filepath.Join(runDir, KeeperPID)), pid, out, errs)
	}

	bad := []string{"--cmdline", writeCmdline(t, "zosnet.static=10.1.0.5,10.1.0.1"), "--run-dir", t.TempDir()}
	code, _, errs = netinitCmd(t, f.node, bad...)
	if code != 2 || !strings.Contains(errs, "zosnet.static") {
		t.Fatalf("malformed cmdline: exit %d, stderr %q", code, errs)
	}
}

func sameNetns(t *testing.T, pid int, ns *netns.NS) bool {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return false
	}
	ino, err := ns.Inode()
	if err != nil {
		t.Fatal(err)
	}
	return st.Ino == ino
}
