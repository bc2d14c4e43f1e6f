// Package imagetest builds the node image once per test binary, for the tests that boot
// it (internal/lab, internal/e2e) and check it (internal/image). It needs the packages
// scripts/install-deps.sh fetches into image.DefaultCacheDir; without them the test
// fails, naming the script (they are a dependency of the tests, not optional).
package imagetest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zosnet/zosnet/internal/image"
)

var (
	once   sync.Once
	result *image.Result
	dir    string
	err    error
)

// Build returns the directory of a node image built from the working tree (binaries
// with go build, the kernel from the cached package, the default tools), built at the
// first call of the test binary and removed when the binary exits... or left in the
// system temp directory when the process is killed.
func Build(t testing.TB) (string, *image.Result) {
	t.Helper()
	once.Do(func() {
		dir, err = os.MkdirTemp("", "zosnet-image-")
		if err != nil {
			return
		}
		bin := filepath.Join(dir, "bin")
		if err = image.BuildBinaries(context.Background(), bin); err != nil {
			return
		}
		result, err = image.Build(image.Config{BinDir: bin, OutDir: dir, Tools: image.DefaultTools})
	})
	if err != nil {
		t.Fatalf("build the node image (scripts/install-deps.sh fetches the packages it needs): %v", err)
	}
	return dir, result
}

// Cleanup removes the image; call it from TestMain after m.Run.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}
