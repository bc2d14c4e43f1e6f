package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/guestagent"
	"github.com/zosnet/zosnet/internal/image"
	"github.com/zosnet/zosnet/internal/image/imagetest"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/testkit"
)

// stockSpec is one VM node on a LAN with nothing else: the guest runs no node services
// (zosnet.services=none) and keeps its state in RAM, so the only thing changing its
// kernel's state is the test binary run in it.
const stockSpec = `
segments:
  - name: lan
    ipv4: 10.9.0.0/24
    gateway: gw
    dhcp: {enabled: false}
routers:
  - name: gw
    interfaces: [{segment: lan, ipv4: 10.9.0.1/24}]
nodes:
  - name: vm1
    kind: vm
    cmdline: zosnet.services=none zosnet.state=ram
    nics: [{segment: lan}]
`

// guestBootTest is where the boot package's test binary is in the guest's image (not
// below /tmp, which the guest's init mounts over).
const guestBootTest = "/opt/zosnet-tests/boot.test"

// stockVLANTests are the boot tests that take an 802.1Q path on a kernel that has it,
// besides those whose name says VLAN (listed from the binary, so a new one runs too).
var stockVLANTests = []string{"TestFailsCleanly"}

// TestSuiteOnStockKernel runs the 802.1Q paths of internal/boot, which this machine's
// kernel cannot take (no 8021q), where they can run: it compiles the package's test
// binary (static) and adds it with dnsmasq (the Debian binary and its libraries: the
// tests serve DHCP with it) to the node image, whose kernel is Debian's, as an appended
// initramfs archive (image.Overlay); boots that in a VM node, loads 8021q, and runs
// the VLAN tests in the guest as root with CI=true through the guest agent. The guest run must pass with every VLAN test run, none skipped, and
// TestFailsCleanly on its 802.1Q path; its output is shown when it does not.
func TestSuiteOnStockKernel(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	dir := t.TempDir() // the test binary and the overlaid image: removed at the end
	testBin := filepath.Join(dir, "boot.test")
	goCmd(t, ctx, "test", "-c", "-trimpath", "-ldflags=-s -w", "-o", testBin, "./internal/boot")
	tests := vlanTests(t, ctx, testBin)
	compiled := time.Now()
	base, img := imagetest.Build(t) // shared with the other VM tests of this binary
	built := time.Now()
	extra := image.NewTree()
	extra.HostFile(guestBootTest, testBin, 0o755)
	if _, err := image.AddHostTool(extra, "dnsmasq"); err != nil {
		t.Fatal(err)
	}
	imgDir := filepath.Join(dir, "image")
	if err := image.Overlay(base, imgDir, extra); err != nil {
		t.Fatal(err)
	}
	t.Logf("test binary compiled in %s, the node image built in %s (kernel %s), overlaid in %s",
		compiled.Sub(start).Round(10*time.Millisecond), built.Sub(compiled).Round(10*time.Millisecond), img.Release, since(built))

	spec, err := lab.ParseSpec([]byte(stockSpec))
	if err != nil {
		t.Fatal(err)
	}
	name := testkit.Name("vl")
	l, err := lab.Up(ctx, spec, lab.Options{Name: name, ImageDir: imgDir})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() { // powers the guest off (kills qemu) and removes the lab
		if t.Failed() {
			b, _ := os.ReadFile(l.ConsoleLog("vm1"))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("console of vm1 (tail):\n%s", b)
		}
		if err := lab.Down(context.Background(), name); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	booted := time.Now()
	if err := pollErr(4*time.Minute, func() error { _, err := l.VMStatus(ctx, "vm1"); return err }); err != nil {
		t.Fatalf("the guest agent of vm1 did not answer: %v", err)
	}
	t.Logf("guest up in %s", since(booted))
	guest := func(timeout time.Duration, env []string, argv ...string) (string, int, error) {
		var out bytes.Buffer
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		code, err := guestagent.Exec(c, l.AgentSocket("vm1"), guestagent.Request{Op: "exec", Argv: argv, Env: env}, nil, &out, &out)
		return out.String(), code, err
	}
	if out, code, err := guest(time.Minute, nil, "sh", "-c", "modprobe 8021q && test -d /sys/module/8021q && uname -r"); err != nil || code != 0 {
		t.Fatalf("load 8021q in the guest: exit %d, %v: %s", code, err, out)
	} else if rel := strings.TrimSpace(out); rel != img.Release {
		t.Fatalf("the guest runs kernel %q, want the image's %s", rel, img.Release)
	}

	ran := time.Now()
	run := "^(" + strings.Join(tests, "|") + ")$"
	out, code, err := guest(6*time.Minute, []string{"CI=true", "ZOSNET_TEST_LOCK=off"},
		guestBootTest, "-test.run", run, "-test.v", "-test.count=1", "-test.timeout=5m")
	t.Logf("guest run of %s: exit %d in %s", run, code, since(ran))
	if bad := judgeGuestRun(out, code, err, tests); len(bad) > 0 {
		t.Errorf("guest output:\n%s", out)
		for _, b := range bad {
			t.Error(b)
		}
		return
	}
	for _, line := range strings.Split(out, "\n") { // results, and what the tests logged
		if strings.HasPrefix(line, "--- ") || strings.Contains(line, "_test.go:") {
			t.Log("guest: " + line)
		}
	}
	t.Logf("whole test %s (TCG)", since(start))
}

// judgeGuestRun returns what is wrong with the guest run of tests: an error or exit code,
// a test not passed (or not run), any skip (the guest kernel has every feature they
// probe), or TestFailsCleanly not saying it took its 802.1Q path.
func judgeGuestRun(out string, code int, err error, tests []string) []string {
	var bad []string
	if err != nil || code != 0 {
		bad = append(bad, fmt.Sprintf("the guest run failed: exit %d%s", code, errText(err)))
	}
	for _, name := range tests {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + regexp.QuoteMeta(name) + ` `).MatchString(out) {
			bad = append(bad, name+" did not pass in the guest")
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*--- SKIP: .*$`).FindAllString(out, -1) {
		bad = append(bad, "skipped in the guest, whose kernel has 802.1Q: "+strings.TrimSpace(m))
	}
	if slices.Contains(tests, "TestFailsCleanly") && (strings.Contains(out, "this kernel has no 802.1Q links") ||
		!strings.Contains(out, "this kernel has 802.1Q links")) {
		bad = append(bad, "TestFailsCleanly did not take its 802.1Q path in the guest")
	}
	return bad
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// vlanTests lists the binary's tests named VLAN, plus stockVLANTests.
func vlanTests(t *testing.T, ctx context.Context, testBin string) []string {
	t.Helper()
	out, err := exec.CommandContext(ctx, testBin, "-test.list", "VLAN").Output()
	if err != nil {
		t.Fatalf("list the VLAN tests of %s: %v", testBin, err)
	}
	tests := slices.Clone(stockVLANTests)
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "Test") {
			tests = append(tests, f)
		}
	}
	for _, want := range []string{"TestVLANKernel", "TestVLANBoot"} {
		if !slices.Contains(tests, want) {
			t.Fatalf("the boot package has no %s (tests named VLAN: %v): update this test", want, tests)
		}
	}
	return tests
}

// goCmd runs the go tool in the module's root, statically linked for linux/amd64 (a
// guest has no libc of ours), offline (a lab may be up on this machine).
func goCmd(t *testing.T, ctx context.Context, args ...string) {
	t.Helper()
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("module root: %v", err)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOPROXY=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestJudgeGuestRun: the guest run passes only when it exited 0 with every test passed,
// none skipped (a subtest's skip too), and TestFailsCleanly on its 802.1Q path.
func TestJudgeGuestRun(t *testing.T) {
	tests := []string{"TestFailsCleanly", "TestVLANBoot"}
	good := "=== RUN   TestFailsCleanly\n    boot_linux_test.go:236: this kernel has 802.1Q links: vlan:priv=100 probed until the deadline: x\n" +
		"--- PASS: TestFailsCleanly (10.56s)\n=== RUN   TestVLANBoot\n--- PASS: TestVLANBoot (3.04s)\nPASS\n"
	for _, c := range []struct {
		name, out string
		code      int
		err       error
		want      string // "" = no complaint
	}{
		{"all passed", good, 0, nil, ""},
		{"exit code", good, 1, nil, "exit 1"},
		{"channel broke", good, 255, errors.New("guest agent: channel closed"), "channel closed"},
		{"a test skipped", strings.Replace(good, "--- PASS: TestVLANBoot", "--- SKIP: TestVLANBoot", 1), 0, nil, "skipped in the guest"},
		{"a subtest skipped", good + "    --- SKIP: TestVLANBoot/sub (0.00s)\n", 0, nil, "skipped in the guest"},
		{"a test not run", strings.Replace(good, "--- PASS: TestVLANBoot (3.04s)\n", "", 1), 0, nil, "TestVLANBoot did not pass"},
		{"a prefix is not the test", strings.Replace(good, "--- PASS: TestVLANBoot ", "--- PASS: TestVLANBootX ", 1), 0, nil, "TestVLANBoot did not pass"},
		{"no 802.1Q path", strings.Replace(good, "has 802.1Q", "has no 802.1Q", 1), 0, nil, "did not take its 802.1Q path"},
		{"both paths logged", good + "    boot_linux_test.go:233: this kernel has no 802.1Q links: x\n", 0, nil, "did not take its 802.1Q path"},
	} {
		bad := judgeGuestRun(c.out, c.code, c.err, tests)
		switch {
		case c.want == "" && len(bad) > 0:
			t.Errorf("%s: complaints %v, want none", c.name, bad)
		case c.want != "" && !strings.Contains(strings.Join(bad, "\n"), c.want):
			t.Errorf("%s: complaints %v, want one saying %q", c.name, bad, c.want)
		}
	}
}
