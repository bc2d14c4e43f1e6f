// Command mkpkg builds zosnet's packages (`make packages`): zosnet-registry .deb
// (systemd unit, system user, SQLite by default, PostgreSQL by /etc/default) for
// linux/amd64 and arm64, and the zosnet CLI as .deb (linux/amd64, arm64), .tar.gz
// (darwin/arm64) and .zip (windows/amd64). See internal/packaging.
//
//	mkpkg [--out bin/pkg] [--version 0.1.0] [--registry] [--cli] [--target linux/amd64,...] [--json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/zosnet/zosnet/internal/packaging"
)

func main() {
	var c packaging.Config
	var targets string
	var asJSON bool
	flag.StringVar(&c.OutDir, "out", "bin/pkg", "output directory")
	flag.StringVar(&c.Version, "version", "0.1.0", "package version (semver)")
	flag.BoolVar(&c.Registry, "registry", false, "build the registry package (default: everything)")
	flag.BoolVar(&c.CLI, "cli", false, "build the CLI packages (default: everything)")
	flag.StringVar(&targets, "target", "", "only these OS/ARCH targets, comma-separated (default: all)")
	flag.BoolVar(&asJSON, "json", false, "print the artifacts as JSON")
	flag.Parse()
	c.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, t := range strings.Split(targets, ",") {
		if t == "" {
			continue
		}
		os_, arch, ok := strings.Cut(t, "/")
		if !ok || os_ == "" || arch == "" {
			fmt.Fprintf(os.Stderr, "mkpkg: --target %q: want OS/ARCH, e.g. linux/amd64\n", t)
			os.Exit(2)
		}
		c.Targets = append(c.Targets, packaging.Target{OS: os_, Arch: arch})
	}
	arts, err := packaging.Build(context.Background(), c)
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(arts)
	} else {
		for _, a := range arts {
			fmt.Printf("%-16s %-14s %8.1f MB  %s\n", a.Package, a.Target, float64(a.Size)/1e6, a.Path)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkpkg:", err)
		os.Exit(1)
	}
}
