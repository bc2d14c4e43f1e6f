package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildBinaries builds zosinit and the Binaries for the image into dir: linux/amd64,
// CGO_ENABLED=0 (static), stripped. It runs the go tool of this machine from the
// module's root (a build step, never product code).
func BuildBinaries(ctx context.Context, dir string) error {
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("image: find the module root (run from the source tree): %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	pkgs := []string{"./cmd/zosinit"}
	for _, b := range Binaries {
		pkgs = append(pkgs, "./cmd/"+b)
	}
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", abs + "/"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("image: go build: %v\n%s", err, out)
	}
	return nil
}
