// Command mkdocs writes the generated reference documents (docs/cli.md, docs/api.md)
// under the repository root; `go generate ./...` runs it (package refdoc).
//
//	go run ./cmd/mkdocs --root .
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zosnet/zosnet/internal/refdoc"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	flag.Parse()
	if err := refdoc.Generate(*root); err != nil {
		fmt.Fprintln(os.Stderr, "mkdocs:", err)
		os.Exit(1)
	}
}
