package testkit

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata with what the tests got")

// Golden compares got with the golden file path (under the package's testdata) and
// fails the test with both texts when they differ. With `go test -update` it writes got
// to the file instead; review the diff before committing it.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s (-want +got; run with -update to accept):\n%s", path, cmp.Diff(string(want), got))
	}
}

// SameAsGolden compares got (e.g. the kernel's listing) with golden file path and never
// rewrites it: the file is the renderer's, and this is its check against the oracle.
func SameAsGolden(t testing.TB, path, got string) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s (-want +got):\n%s", path, cmp.Diff(string(want), got))
	}
}
