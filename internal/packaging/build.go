package packaging

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/zosnet/zosnet/internal/image"
)

// Config says what to build.
type Config struct {
	// Version of the packages (semver, e.g. 0.1.0).
	Version string
	// OutDir receives the packages and archives.
	OutDir string
	// Registry and CLI select what to build (both when neither is set).
	Registry, CLI bool
	// Targets limits the platforms (nil: all of RegistryTargets and CLITargets).
	Targets []Target
	Log     *slog.Logger
}

// Artifact is one built package or archive.
type Artifact struct {
	Package string `json:"package"`
	Target  string `json:"target"`
	Path    string `json:"path"`
	Size    int64  `json:"size"`
}

// Build cross-compiles and packages. A target that fails to build does not stop the
// others; the error lists every failure (e.g. a CLI that does not cross-build yet).
func Build(ctx context.Context, c Config) ([]Artifact, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if !c.Registry && !c.CLI {
		c.Registry, c.CLI = true, true
	}
	if c.Version == "" {
		return nil, errors.New("packaging: version is required")
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "zosnet-pkg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	var out []Artifact
	var errs []error
	add := func(a Artifact, err error) {
		if err != nil {
			errs = append(errs, err)
			c.Log.Warn("packaging: failed", "package", a.Package, "target", a.Target, "err", err)
			return
		}
		out = append(out, a)
		c.Log.Info("packaging: built", "path", a.Path, "bytes", a.Size)
	}
	if c.Registry {
		for _, t := range c.targets(RegistryTargets) {
			add(c.registry(ctx, work, t))
		}
	}
	if c.CLI {
		for _, t := range c.targets(CLITargets) {
			add(c.cli(ctx, work, t))
		}
	}
	return out, errors.Join(errs...)
}

func (c Config) targets(all []Target) []Target {
	if c.Targets == nil {
		return all
	}
	var out []Target
	for _, t := range all {
		for _, w := range c.Targets {
			if t == w {
				out = append(out, t)
			}
		}
	}
	return out
}

// goBuild cross-compiles ./cmd/<cmd> for t (static, stripped) into dir.
func goBuild(ctx context.Context, cmd, dir string, t Target) (string, error) {
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root (run from the source tree): %w", err)
	}
	out := filepath.Join(dir, t.OS+"-"+t.Arch, binName(cmd, t))
	b := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/"+cmd)
	b.Dir = strings.TrimSpace(string(root))
	b.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch)
	if msg, err := b.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s does not build for %s: %v\n%s", cmd, t, err, msg)
	}
	return out, nil
}

func (c Config) registry(ctx context.Context, work string, t Target) (Artifact, error) {
	a := Artifact{Package: RegistryPackage, Target: t.String(), Path: filepath.Join(c.OutDir, ArtifactName(RegistryPackage, c.Version, t))}
	bin, err := goBuild(ctx, "registry", work, t)
	if err != nil {
		return a, err
	}
	f := map[string]string{"unit": UnitFile, "default": DefaultFile, "postinst": PostInstall, "prerm": PreRemove, "postrm": PostRemove}
	for name, text := range f {
		p := filepath.Join(work, "registry-"+name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return a, err
		}
		f[name] = p
	}
	info := &nfpm.Info{
		Name: RegistryPackage, Arch: t.Arch, Version: c.Version, Maintainer: "zosnet <zosnet@example.org>",
		Description: "zosnet grid registry: farms, nodes, networks (SQLite or PostgreSQL), HTTPS API v1",
		Homepage:    "https://github.com/zosnet/zosnet", License: "Apache-2.0", Section: "net", Priority: "optional",
		Overridables: nfpm.Overridables{
			Suggests: []string{"postgresql"},
			Contents: files.Contents{
				{Source: bin, Destination: RegistryBinary, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: f["unit"], Destination: RegistryUnit, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: f["default"], Destination: RegistryDefault, Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			},
			Scripts: nfpm.Scripts{PostInstall: f["postinst"], PreRemove: f["prerm"], PostRemove: f["postrm"]},
		},
	}
	return a, writeDeb(info, &a)
}

func (c Config) cli(ctx context.Context, work string, t Target) (Artifact, error) {
	a := Artifact{Package: CLIPackage, Target: t.String(), Path: filepath.Join(c.OutDir, ArtifactName(CLIPackage, c.Version, t))}
	bin, err := goBuild(ctx, "zosnet", work, t)
	if err != nil {
		return a, err
	}
	switch t.OS {
	case "linux":
		info := &nfpm.Info{
			Name: CLIPackage, Arch: t.Arch, Version: c.Version, Maintainer: "zosnet <zosnet@example.org>",
			Description: "zosnet command line: keys, profiles, farms, nodes, networks (and a node's local networkd)",
			Homepage:    "https://github.com/zosnet/zosnet", License: "Apache-2.0", Section: "net", Priority: "optional",
			Overridables: nfpm.Overridables{Contents: files.Contents{
				{Source: bin, Destination: CLIBinary, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
			}},
		}
		return a, writeDeb(info, &a)
	case "windows":
		return a, writeArchive(a.Path, bin, true, &a)
	}
	return a, writeArchive(a.Path, bin, false, &a)
}

// writeDeb packages info as a .deb at a.Path (written atomically).
func writeDeb(info *nfpm.Info, a *Artifact) error {
	info = nfpm.WithDefaults(info)
	info.MTime = time.Unix(0, 0).UTC()
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return fmt.Errorf("%s: %w", a.Path, err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	return atomic(a, func(w io.Writer) error { return pkg.Package(info, w) })
}

// writeArchive puts the binary into a .zip (Windows) or .tar.gz.
func writeArchive(path, bin string, zipped bool, a *Artifact) error {
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	name := filepath.Base(bin)
	return atomic(a, func(w io.Writer) error {
		if zipped {
			z := zip.NewWriter(w)
			f, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
			if err == nil {
				_, err = f.Write(b)
			}
			if err != nil {
				return err
			}
			return z.Close()
		}
		g := gzip.NewWriter(w)
		tw := tar.NewWriter(g)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return g.Close()
	})
}

func atomic(a *Artifact, fn func(io.Writer) error) error {
	if err := image.WriteFileAtomic(a.Path, fn); err != nil {
		return fmt.Errorf("%s: %w", a.Path, err)
	}
	st, err := os.Stat(a.Path)
	if err == nil {
		a.Size = st.Size()
	}
	return err
}
