package kmod

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func modinfo(kv ...string) []byte { return []byte(strings.Join(kv, "\x00") + "\x00") }

func TestParseModinfoData(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       Module
		err        string
	}{
		{"wireguard", "kernel/drivers/net/wireguard/wireguard.ko",
			modinfo("alias=rtnl-link-wireguard", "depends=libcurve25519-generic,udp_tunnel", "name=wireguard", "vermagic=6.1.0-57-amd64 SMP "),
			Module{Name: "wireguard", Path: "kernel/drivers/net/wireguard/wireguard.ko", Depends: []string{"libcurve25519_generic", "udp_tunnel"},
				Aliases: []string{"rtnl-link-wireguard"}, Vermagic: "6.1.0-57-amd64 SMP"}, ""},
		{"no name: from the file, dashes normalized", "kernel/x/virtio-rng.ko", modinfo("depends="),
			Module{Name: "virtio_rng", Path: "kernel/x/virtio-rng.ko"}, ""},
		{"softdep pre only", "kernel/lib/libcrc32c.ko", modinfo("softdep=pre: crc32c post: foo", "name=libcrc32c"),
			Module{Name: "libcrc32c", Path: "kernel/lib/libcrc32c.ko", SoftPre: []string{"crc32c"}}, ""},
		{"garbage without '=' is ignored", "a.ko", []byte("xx\x00\x00name=a\x00"), Module{Name: "a", Path: "a.ko"}, ""},
		{"bad name", "a.ko", modinfo("name=a b"), Module{}, `bad name "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseModinfoData(tc.data, tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseModinfoNotELF(t *testing.T) {
	_, err := ParseModinfo(bytes.NewReader([]byte("not an elf file at all")), "x.ko")
	if err == nil || !strings.Contains(err.Error(), "module x.ko: not an ELF file") {
		t.Fatalf("err %v", err)
	}
}

func testIndex() *Index {
	ix := NewIndex("6.1")
	for _, m := range []Module{
		{Name: "wireguard", Path: "w.ko", Depends: []string{"udp_tunnel", "libchacha"}, Aliases: []string{"rtnl-link-wireguard"}},
		{Name: "udp_tunnel", Path: "u.ko"},
		{Name: "libchacha", Path: "c.ko", Depends: []string{"udp_tunnel"}},
		{Name: "libcrc32c", Path: "l.ko", SoftPre: []string{"crc32c"}},
		{Name: "crc32c_generic", Path: "g.ko", Aliases: []string{"crc32c", "crypto-crc32c"}},
		{Name: "crc32c_intel", Path: "i.ko", Aliases: []string{"crc32c", "crypto-crc32c"}},
		{Name: "virtio_net", Path: "v.ko", Aliases: []string{"virtio:d00000001v*"}},
		{Name: "a", Path: "a.ko", Depends: []string{"b"}},
		{Name: "b", Path: "b.ko", Depends: []string{"a"}},
		{Name: "needsext", Path: "n.ko", Depends: []string{"ext4", "missing"}},
	} {
		ix.Add(m)
	}
	ix.SetBuiltin([]byte("kernel/fs/ext4/ext4.ko\nkernel/net/unix/unix.ko\n"))
	return ix
}

func TestClosure(t *testing.T) {
	ix := testIndex()
	for _, tc := range []struct {
		in   []string
		want []string
		err  string
	}{
		{[]string{"wireguard"}, []string{"udp_tunnel", "libchacha", "wireguard"}, ""},
		{[]string{"udp_tunnel", "wireguard"}, []string{"udp_tunnel", "libchacha", "wireguard"}, ""},
		{[]string{"libcrc32c"}, []string{"crc32c_generic", "crc32c_intel", "libcrc32c"}, ""},
		{[]string{"ext4"}, nil, ""},
		{[]string{"virtio-net"}, []string{"virtio_net"}, ""},
		{[]string{"nope"}, nil, "module nope: unknown module"},
		{[]string{"needsext"}, nil, "module missing (needed by needsext): unknown module"},
		{[]string{"a"}, nil, "dependency cycle"},
	} {
		got, err := ix.Closure(tc.in...)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: got %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	ix := testIndex()
	for _, tc := range []struct {
		what string
		want []string
		err  bool
	}{
		{"wireguard", []string{"wireguard"}, false},
		{"rtnl-link-wireguard", []string{"wireguard"}, false},
		{"crypto-crc32c", []string{"crc32c_generic", "crc32c_intel"}, false},
		{"virtio:d00000001v00001AF4", []string{"virtio_net"}, false},
		{"ext4", nil, false},
		{"fs-ext9", nil, true},
		{"", nil, true},
	} {
		got, err := ix.Lookup(tc.what)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v %v, want %v (error %v)", tc.what, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrUnknown) {
			t.Errorf("%q: %v does not wrap ErrUnknown", tc.what, err)
		}
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("\x7fELF garbage"))
	f.Add(modinfo("name=x", "depends=a,b", "softdep=pre: c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseModinfo(bytes.NewReader(b), "f.ko")
		m, err := parseModinfoData(b, "f.ko")
		if err == nil && (m.Name == "" || strings.ContainsAny(m.Name, "/ \t\n")) {
			t.Fatalf("accepted bad name %q", m.Name)
		}
	})
}
