package labcli

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/testkit"
)

func zoslab(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String() + errb.String(), code
}

// TestUpStatusDown: `zoslab up` then `status --json` lists the default farm's nodes, and
// `down` leaves nothing behind.
func TestUpStatusDown(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	name := testkit.Name("lc")
	t.Cleanup(func() { lab.Down(t.Context(), name) })
	if out, code := zoslab(t, "up", "--name", name, "--no-boot"); code != 0 {
		t.Fatalf("up: %d: %s", code, out)
	}
	var out bytes.Buffer
	if code := Main([]string{"status", "--json", "--name", name}, &out, os.Stderr); code != 0 {
		t.Fatalf("status: %d", code)
	}
	var st lab.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status json: %v: %s", err, out.String())
	}
	var nodes []string
	for _, n := range st.Nodes {
		nodes = append(nodes, n.Name)
	}
	if got := strings.Join(nodes, " "); got != "farm1 farm2 farm3 home1 home2 home6" {
		t.Errorf("nodes %q", got)
	}
	text, code := zoslab(t, "status", "--name", name)
	if code != 0 || !strings.Contains(text, "10.201.0.100-10.201.0.199") || !strings.Contains(text, "2001:db8:100::/64") {
		t.Errorf("status map: %d\n%s", code, text)
	}
	got, code := zoslab(t, "exec", "farm2", "--name", name, "--", "cat", "/proc/cmdline")
	if code != 0 || !strings.Contains(got, "farmer_id=1") {
		t.Errorf("exec: %d %q", code, got)
	}
	if _, code := zoslab(t, "exec", "farm2", "--name", name, "--", "false"); code != 1 {
		t.Errorf("exec false: exit code %d, want 1", code)
	}
	if out, code := zoslab(t, "lease", "farm1", "eth0", "--name", name); code != 0 || !strings.Contains(out, "10.201.0.") || !strings.Contains(out, "router 10.201.0.1") {
		t.Errorf("lease: %d %s", code, out)
	}
	if out, code := zoslab(t, "carrier", "farm3", "eth0", "down", "--name", name); code != 0 {
		t.Errorf("carrier: %d %s", code, out)
	}
	if out, code := zoslab(t, "dhcp", "oob", "on", "--range", "10.201.0.16/28", "--name", name); code != 0 {
		t.Errorf("dhcp: %d %s", code, out)
	}
	out.Reset()
	Main([]string{"status", "--json", "--name", name}, &out, os.Stderr)
	st = lab.Status{}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Nodes[2].NICs[0].Carrier || st.Segments[1].DHCPRange != "10.201.0.16/28" || len(st.Nodes[0].NICs[0].Addrs) != 1 {
		t.Errorf("status after carrier/dhcp/lease: %+v %+v %+v", st.Nodes[2].NICs[0], st.Segments[1], st.Nodes[0].NICs[0])
	}
	if out, code := zoslab(t, "down", "--name", name); code != 0 {
		t.Fatalf("down: %d: %s", code, out)
	}
	if _, err := lab.Open(name); err == nil {
		t.Error("lab still opens after down")
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"nosuch"},
		{"exec", "farm1"},
		{"up", "extra"},
		{"carrier", "farm1", "eth0", "sideways"},
		{"status", "--bogus"},
	}
	for _, c := range cases {
		if out, code := zoslab(t, c...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", c, code, out)
		}
	}
	if out, code := zoslab(t, "status", "--name", "Bad-Name"); code != 1 || !strings.Contains(out, "lab name") {
		t.Errorf("bad name: %d %s", code, out)
	}
}
