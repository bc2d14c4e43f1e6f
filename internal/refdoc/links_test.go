package refdoc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Node uplinks", "node-uplinks"},
		{"A pair does not answer", "a-pair-does-not-answer"},
		{"`zosnet node status` says hidden", "zosnet-node-status-says-hidden"},
		{"GET /v1/farms/{farm}", "get-v1farmsfarm"},
		{"Relay failover — why 12 s?", "relay-failover--why-12-s"},
		{"wg-quick refuses the file", "wg-quick-refuses-the-file"},
		{"snake_case and Ünïcode", "snake_case-and-ünïcode"},
	} {
		if got := Slug(tt.in); got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParsePage(t *testing.T) {
	src := "# Title\n\n## Same\n\n## Same\n\n### With `code` and [a link](x.md)\n\n" +
		"See [b](b.md#x) and ![img](img.png), <https://example.com>.\n\n" +
		"```sh\n[not](a-link.md)\n```\n\n| a | b |\n|---|---|\n| [c](c.md) | `internal/plan` |\n"
	p := ParsePage([]byte(src))
	for _, a := range []string{"title", "same", "same-1", "with-code-and-a-link"} {
		if !p.Anchors[a] {
			t.Errorf("anchor %q missing: %v", a, p.Anchors)
		}
	}
	wantLinks := []string{"x.md", "b.md#x", "img.png", "c.md"}
	if !slices.Equal(p.Links, wantLinks) {
		t.Errorf("links %q, want %q", p.Links, wantLinks)
	}
	if !slices.Equal(p.CodePaths, []string{"internal/plan"}) {
		t.Errorf("code paths %q", p.CodePaths)
	}
}

// TestCheckLinksFindsEveryKind: each kind of broken link is reported, good ones are not.
func TestCheckLinksFindsEveryKind(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("internal/plan/plan.go", "package plan\n")
	write("docs/b.md", "# B\n\n## Part two\n")
	write("README.md", "# Top\n\n"+
		"[ok](docs/b.md) [ok](docs/b.md#part-two) [ok](#top) [ok](internal/plan/) [ok](https://x.invalid/y#z)\n"+
		"`internal/plan` `internal/plan/plan.go`\n\n"+
		"[bad1](docs/c.md) [bad2](docs/b.md#part-three) [bad3](#nowhere) [bad4](../outside.md)\n"+
		"[bad5](/abs.md) [bad6](internal/plan/plan.go#x) `internal/gone`\n")
	problems, err := CheckLinks(dir, []string{"README.md", "docs/b.md"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems, "\n")
	for _, want := range []string{
		"docs/c.md: no such file", "docs/b.md#part-three: no heading", "#nowhere: no heading",
		"../outside.md: points outside", "/abs.md: absolute path", "plan.go#x: anchor on a file that is not Markdown",
		"`internal/gone`: no such file",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if len(problems) != 7 {
		t.Errorf("%d problems, want 7:\n%s", len(problems), got)
	}
}

func TestAPIReferenceRejectsAnInvalidDocument(t *testing.T) {
	bad := "openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths:\n  /x:\n    get:\n      responses: {\"200\": {$ref: \"#/components/responses/nope\"}}\n"
	if _, err := APIReference([]byte(bad), "bad.yaml"); err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Fatalf("error %v, want one naming bad.yaml", err)
	}
	sibling := "openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths: {}\ncomponents:\n  schemas:\n    S: {type: object, properties: {r: {type: integer, description: on PUT, the revision}}}\n"
	if _, err := APIReference([]byte(sibling), "s.yaml"); err == nil {
		t.Fatal("a description split by a comma in a flow mapping must be refused")
	}
}
