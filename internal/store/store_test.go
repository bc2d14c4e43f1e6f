package store

import (
	"os"
	"path/filepath"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if ok, err := d.ReadJSON("state.json", &v); ok || err != nil {
		t.Fatalf("missing file: ok=%v err=%v", ok, err)
	}
	if err := d.WriteJSON("state.json", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteJSON("state.json", map[string]int{"b": 2}); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.ReadJSON("state.json", &v); !ok || err != nil || v["b"] != 2 || len(v) != 1 {
		t.Fatalf("read back %v ok=%v err=%v", v, ok, err)
	}
	ents, _ := os.ReadDir(d.Path())
	for _, e := range ents {
		if e.Name() != "state.json" && e.Name() != "keys" {
			t.Fatalf("stray file %s left by atomic write", e.Name())
		}
	}
	if err := d.WriteJSON("../escape", 1); err == nil {
		t.Fatal("path escape accepted")
	}
	os.WriteFile(filepath.Join(d.Path(), "bad.json"), []byte("{"), 0o600)
	if _, err := d.ReadJSON("bad.json", &v); err == nil {
		t.Fatal("corrupt file accepted")
	}
}

func TestSecret(t *testing.T) {
	d, _ := Open(t.TempDir())
	if b, err := d.ReadSecret("k"); b != nil || err != nil {
		t.Fatalf("missing secret: %v %v", b, err)
	}
	if err := d.WriteSecret("k", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(d.Path(), "keys", "k"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v err %v, want 0600", st.Mode(), err)
	}
	if b, _ := d.ReadSecret("k"); string(b) != "s3cret" {
		t.Fatalf("read back %q", b)
	}
	if err := d.RemoveSecret("k"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveSecret("k"); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}
