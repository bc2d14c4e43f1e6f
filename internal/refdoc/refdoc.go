// Package refdoc makes the reference documents that cannot drift and checks the docs
// tree: docs/cli.md from the zosnet command tree (package cli), docs/api.md from the
// registry's OpenAPI document (internal/registry/openapi.yaml, validated on the way),
// and every relative link and anchor of README.md and docs/*.md (CheckLinks). `go
// generate ./...` runs cmd/mkdocs, which writes the references; the package's tests
// fail when a checked-in copy differs from what the code renders, or a link is broken.
//
// Everything here is pure except Generate and CheckLinks, which read and write files
// under the repository root they are given. Nothing touches the network.
package refdoc

//go:generate go run ../../cmd/mkdocs --root ../..

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zosnet/zosnet/internal/cli"
	"github.com/zosnet/zosnet/internal/registry"
)

// Generated are the generated documents, by path from the repository root.
func Generated() (map[string][]byte, error) {
	var c bytes.Buffer
	if err := cli.Root().WriteReference(&c); err != nil {
		return nil, fmt.Errorf("docs/cli.md: %w", err)
	}
	api, err := APIReference(registry.OpenAPI, "internal/registry/openapi.yaml")
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"docs/cli.md": c.Bytes(), "docs/api.md": api}, nil
}

// Generate writes the generated documents under root (the repository root),
// atomically each, and leaves a file that is already up to date untouched.
func Generate(root string) error {
	docs, err := Generated()
	if err != nil {
		return err
	}
	var errs []error
	for _, rel := range sortedKeys(docs) {
		errs = append(errs, writeIfChanged(filepath.Join(root, rel), docs[rel]))
	}
	return errors.Join(errs...)
}

func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
