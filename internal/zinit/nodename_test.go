package zinit

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestDefaultName(t *testing.T) {
	for _, tc := range []struct {
		nics map[string]net.HardwareAddr
		want string
	}{
		{nil, "zos"},
		{map[string]net.HardwareAddr{"eth0": mac("00:00:00:00:00:00")}, "zos"},
		{map[string]net.HardwareAddr{"eth0": mac("52:54:00:12:34:56")}, "zos-525400123456"},
		{map[string]net.HardwareAddr{"eth1": mac("52:54:00:00:00:02"), "eth0": mac("52:54:00:00:00:01")}, "zos-525400000001"},
		{map[string]net.HardwareAddr{"ib0": mac("00:00:00:48:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0e:ee:11")}, "zos"},
	} {
		if got := DefaultName(tc.nics); got != tc.want {
			t.Errorf("DefaultName(%v) = %q, want %q", tc.nics, got, tc.want)
		}
		if err := validName(DefaultName(tc.nics)); err != nil {
			t.Errorf("DefaultName(%v) is not a valid host name: %v", tc.nics, err)
		}
	}
}

// fakeSys makes a /sys/class/net with one virtual interface (no device link) and the
// given physical ones.
func fakeSys(t *testing.T, phys map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, addr := range phys {
		d := filepath.Join(root, name)
		os.MkdirAll(filepath.Join(d, "device"), 0o755)
		os.WriteFile(filepath.Join(d, "address"), []byte(addr+"\n"), 0o644)
	}
	v := filepath.Join(root, "aaa-veth")
	os.MkdirAll(v, 0o755)
	os.WriteFile(filepath.Join(v, "address"), []byte("02:00:00:00:00:09\n"), 0o644)
	return root
}

func TestResolveName(t *testing.T) {
	sys := fakeSys(t, map[string]string{"eth0": "52:54:00:ab:cd:ef", "eth1": "52:54:00:00:00:01"})
	state := t.TempDir()

	if n, err := ResolveName("vm1", state, sys); n != "vm1" || err != nil {
		t.Fatalf("command line name: got %q, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(state, NameFile)); err == nil {
		t.Fatal("a name from the command line must not be kept in the state directory")
	}
	n, err := ResolveName("", state, sys)
	if n != "zos-525400abcdef" || err != nil {
		t.Fatalf("first boot: got %q, %v; want the first physical NIC's MAC (eth0), not the veth's", n, err)
	}
	// The NICs change (a card swapped): the kept name stays.
	sys2 := fakeSys(t, map[string]string{"eth0": "52:54:00:99:99:99"})
	if n, err := ResolveName("", state, sys2); n != "zos-525400abcdef" || err != nil {
		t.Fatalf("after a NIC change: got %q, %v; want the kept name", n, err)
	}
	// A corrupt kept name is replaced, and the error names the file.
	os.WriteFile(filepath.Join(state, NameFile), []byte("bad name!\n"), 0o644)
	n, err = ResolveName("", state, sys2)
	if n != "zos-525400999999" || err == nil || !strings.Contains(err.Error(), NameFile) {
		t.Fatalf("corrupt kept name: got %q, %v", n, err)
	}
	if raw, _ := os.ReadFile(filepath.Join(state, NameFile)); strings.TrimSpace(string(raw)) != n {
		t.Fatalf("the new name is not kept: %q", raw)
	}
	// No state directory to write to: still a unique name, and an error that says so.
	n, err = ResolveName("", filepath.Join(state, "missing"), sys)
	if n != "zos-525400abcdef" || err == nil {
		t.Fatalf("unwritable state: got %q, %v", n, err)
	}
}
