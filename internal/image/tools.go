package image

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// libDirs are where the build machine's shared libraries live (Debian, amd64).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// AddHostTool copies a program of the build machine (a name on PATH or an absolute
// path) into t at the same path, with its ELF interpreter and every shared library it
// needs (DT_NEEDED, transitively), so that it runs in the image. It returns the path
// the program has in the image.
func AddHostTool(t *Tree, name string) (string, error) {
	p := name
	if !filepath.IsAbs(p) {
		var err error
		if p, err = lookTool(name); err != nil {
			return "", err
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("tool %s: %w", name, err)
	}
	if err := addELF(t, p, real, map[string]bool{}); err != nil {
		return "", fmt.Errorf("tool %s: %w", name, err)
	}
	return p, nil
}

func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("tool %s: not found on this machine (install its Debian package)", name)
}

// addELF adds the file at src as dst and, for a dynamic ELF, its interpreter and
// libraries.
func addELF(t *Tree, dst, src string, seen map[string]bool) error {
	if seen[dst] {
		return nil
	}
	seen[dst] = true
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	t.HostFile(dst, src, uint64(st.Mode().Perm()))
	f, err := elf.Open(src)
	if err != nil {
		return nil // not an ELF (a script): nothing more to add
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return err
			}
			interp := string(b[:len(b)-1])
			real, err := filepath.EvalSymlinks(interp)
			if err != nil {
				return fmt.Errorf("interpreter %s: %w", interp, err)
			}
			if err := addELF(t, interp, real, seen); err != nil {
				return err
			}
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil // static
	}
	for _, lib := range libs {
		src, err := findLib(lib)
		if err != nil {
			return err
		}
		real, err := filepath.EvalSymlinks(src)
		if err != nil {
			return err
		}
		if err := addELF(t, src, real, seen); err != nil {
			return err
		}
	}
	return nil
}

func findLib(name string) (string, error) {
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("shared library " + name + " not found in " + fmt.Sprint(libDirs))
}
