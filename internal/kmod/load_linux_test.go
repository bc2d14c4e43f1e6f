package kmod

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoaderOrderOnceAndErrors(t *testing.T) {
	ix := testIndex()
	l := NewLoader("/mods", ix, nil)
	var loaded []string
	fail := ""
	l.finit = func(p string) error {
		if strings.HasSuffix(p, fail) && fail != "" {
			return errors.New("exec format error")
		}
		loaded = append(loaded, p)
		return nil
	}
	if err := l.Modprobe("rtnl-link-wireguard"); err != nil {
		t.Fatal(err)
	}
	if err := l.Load("libchacha", "wireguard"); err != nil {
		t.Fatal(err)
	}
	want := []string{"/mods/u.ko", "/mods/c.ko", "/mods/w.ko"}
	if !reflect.DeepEqual(loaded, want) {
		t.Errorf("loaded %v, want %v (each once, dependencies first)", loaded, want)
	}
	fail = "g.ko"
	err := l.Load("libcrc32c")
	if err == nil || !strings.Contains(err.Error(), "load module crc32c_generic (g.ko): exec format error") {
		t.Errorf("err %v", err)
	}
	if l.Loaded() != 3 {
		t.Errorf("Loaded() = %d, want 3", l.Loaded())
	}
}

// TestColdplug: devices' modaliases in a sysfs tree load their drivers, unknown devices
// are skipped, and a driver is loaded once however many devices it drives.
func TestColdplug(t *testing.T) {
	sys := t.TempDir()
	for dev, alias := range map[string]string{
		"bus/virtio/devices/virtio0":   "virtio:d00000001v00001AF4",
		"bus/virtio/devices/virtio1":   "virtio:d00000001v00001AF4",
		"bus/pci/devices/0000:00:01.0": "pci:v00008086d00007000sv00000000sd00000000bc06sc01i00",
	} {
		d := filepath.Join(sys, dev)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "modalias"), []byte(alias+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := NewLoader("/m", testIndex(), nil)
	var loaded []string
	l.finit = func(p string) error { loaded = append(loaded, p); return nil }
	if n := l.Coldplug(sys); n != 1 || !reflect.DeepEqual(loaded, []string{"/m/v.ko"}) {
		t.Errorf("coldplug loaded %d: %v, want virtio_net once", n, loaded)
	}
}
