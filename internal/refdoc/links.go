package refdoc

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// Page is what the link check needs of one Markdown file: the anchors of its headings
// (as GitHub makes them), its link targets, and the repository paths it names in code
// spans (`internal/plan`, `cmd/zosnet/main.go`).
type Page struct {
	Anchors   map[string]bool
	Links     []string
	CodePaths []string
}

var md = goldmark.New(goldmark.WithExtensions(extension.GFM))

// codePathRE matches a code span that names a path in the repository.
var codePathRE = regexp.MustCompile(`^(internal|cmd|scripts|third_party|docs)/[A-Za-z0-9_./-]*[A-Za-z0-9_]/?$`)

// ParsePage parses Markdown (CommonMark with GitHub's extensions). Links and code in
// code blocks are not links; heading anchors follow GitHub's rules, duplicates numbered.
func ParsePage(src []byte) Page {
	p := Page{Anchors: map[string]bool{}}
	seen := map[string]int{}
	doc := md.Parser().Parse(text.NewReader(src))
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			a := Slug(plainText(n, src))
			if k := seen[a]; k > 0 {
				seen[a]++
				a = fmt.Sprintf("%s-%d", a, k)
			} else {
				seen[a] = 1
			}
			p.Anchors[a] = true
		case *ast.Link:
			p.Links = append(p.Links, string(n.Destination))
		case *ast.Image:
			p.Links = append(p.Links, string(n.Destination))
		case *ast.CodeSpan:
			if s := plainText(n, src); codePathRE.MatchString(s) {
				p.CodePaths = append(p.CodePaths, s)
			}
		}
		return ast.WalkContinue, nil
	})
	return p
}

// plainText is a node's text as rendered (code spans and link texts included).
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(src))
			if c.SoftLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// Slug is GitHub's anchor for a heading text: lower case; letters, digits, '-' and '_'
// kept; every space becomes '-'; everything else dropped.
func Slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CheckLinks checks the Markdown files (paths relative to root): every relative link
// names a file or directory inside root, every anchor (#x, file.md#x) names a heading
// of its page, every repository path in a code span exists. Links with a scheme
// (https:, mailto:) are not followed: the check needs no network. It returns one
// message per problem, "file: link: reason".
func CheckLinks(root string, files []string) ([]string, error) {
	pages := map[string]Page{}
	load := func(rel string) (Page, error) {
		if p, ok := pages[rel]; ok {
			return p, nil
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return Page{}, err
		}
		pages[rel] = ParsePage(b)
		return pages[rel], nil
	}
	var problems []string
	for _, f := range files {
		p, err := load(f)
		if err != nil {
			return nil, err
		}
		for _, l := range p.Links {
			if msg := checkLink(root, f, l, load); msg != "" {
				problems = append(problems, fmt.Sprintf("%s: %s: %s", f, l, msg))
			}
		}
		for _, c := range p.CodePaths {
			if _, err := os.Stat(filepath.Join(root, c)); err != nil {
				problems = append(problems, fmt.Sprintf("%s: `%s`: no such file or directory in the repository", f, c))
			}
		}
	}
	return problems, nil
}

func checkLink(root, from, link string, load func(string) (Page, error)) string {
	u, err := url.Parse(link)
	switch {
	case err != nil:
		return "not a URL: " + err.Error()
	case u.Scheme != "" || u.Host != "":
		return "" // external: not checked (no network)
	case link == "":
		return "empty link"
	}
	target := from
	if u.Path != "" {
		if strings.HasPrefix(u.Path, "/") {
			return "absolute path: use a path relative to the page"
		}
		target = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(from), u.Path)))
		if target == ".." || strings.HasPrefix(target, "../") {
			return "points outside the repository"
		}
		if _, err := os.Stat(filepath.Join(root, target)); err != nil {
			return "no such file or directory"
		}
	}
	if u.Fragment == "" {
		return ""
	}
	if !strings.HasSuffix(target, ".md") {
		return "anchor on a file that is not Markdown"
	}
	p, err := load(target)
	if err != nil {
		return err.Error()
	}
	if !p.Anchors[u.Fragment] {
		return fmt.Sprintf("no heading with anchor #%s in %s", u.Fragment, target)
	}
	return ""
}
