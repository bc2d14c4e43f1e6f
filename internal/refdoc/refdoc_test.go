package refdoc

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository root, seen from this package's directory.
const root = "../.."

// TestGeneratedDocsUpToDate fails when docs/cli.md or docs/api.md differ from what the
// command tree and openapi.yaml render.
func TestGeneratedDocsUpToDate(t *testing.T) {
	docs, err := Generated()
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range sortedKeys(docs) {
		got, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Errorf("%s: %v: run `go generate ./...`", rel, err)
			continue
		}
		if !bytes.Equal(got, docs[rel]) {
			t.Errorf("%s is out of date (%s): run `go generate ./...` and commit the result", rel, firstDiff(got, docs[rel]))
		}
	}
}

// firstDiff names the first line where the checked-in copy differs.
func firstDiff(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(h), len(w)); i++ {
		var a, b string
		if i < len(h) {
			a = h[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ": have " + quote(a) + ", want " + quote(b)
		}
	}
	return "same lines"
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strconv.Quote(s)
}

// docPages are the pages the link test checks: the README, the changelog and docs/.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md", "CHANGELOG.md"}
	for _, p := range pages {
		out = append(out, filepath.ToSlash(strings.TrimPrefix(p, root+"/")))
	}
	for _, want := range []string{"users", "farmers", "operators", "architecture", "lab", "benchmarks", "troubleshooting", "cli", "api"} {
		if !slices.Contains(out, "docs/"+want+".md") {
			t.Errorf("docs/%s.md is missing", want)
		}
	}
	return out
}

// TestDocLinks: every relative link, anchor and repository path in the docs resolves.
func TestDocLinks(t *testing.T) {
	problems, err := CheckLinks(root, docPages(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestArchitectureNamesEveryPackage: docs/architecture.md's package table names every
// package of cmd/ and internal/, so a new or moved package cannot go unmentioned (and a
// named one that is gone fails TestDocLinks).
func TestArchitectureNamesEveryPackage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, p := range ParsePage(b).CodePaths {
		named[strings.TrimSuffix(p, "/")] = true
	}
	var pkgs []string
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			files, _ := filepath.Glob(filepath.Join(path, "*.go"))
			for _, f := range files {
				if !strings.HasSuffix(f, "_test.go") {
					pkgs = append(pkgs, filepath.ToSlash(strings.TrimPrefix(path, root+"/")))
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(pkgs) < 40 {
		t.Fatalf("found only %d packages under cmd/ and internal/", len(pkgs))
	}
	for _, p := range pkgs {
		if !named[p] {
			t.Errorf("docs/architecture.md does not name package %s: add a line to its package table", p)
		}
	}
}
