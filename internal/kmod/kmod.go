// Package kmod reads Linux kernel modules and resolves them like modprobe: the
// .modinfo section of a .ko (name, depends=, alias=), an index of the modules an image
// ships, the dependency closure in load order, and alias lookups such as the kernel's
// request_module("nft-expr-masq") or a device's modalias.
//
// Everything here is pure (no kernel, no files but what the caller passes) and safe for
// concurrent use; the loader that calls finit_module is load_linux.go.
package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
)

// Module is one loadable kernel module as its .modinfo describes it.
type Module struct {
	// Name is the module's name (name=, else the file name without .ko), with '-'
	// replaced by '_' as the kernel does.
	Name string `json:"name"`
	// Path is the file, relative to the modules directory (lib/modules/<release>).
	Path string `json:"path"`
	// Depends lists the modules that must be loaded first (depends=), normalized.
	Depends []string `json:"depends,omitempty"`
	// Aliases are the alias= patterns (shell globs) the module answers to.
	Aliases []string `json:"aliases,omitempty"`
	// SoftPre are the softdep= "pre:" modules (names or aliases, such as crc32c for
	// libcrc32c): loaded first when the index has them, skipped when not.
	SoftPre []string `json:"softpre,omitempty"`
	// Vermagic is the kernel release and options the module was built for.
	Vermagic string `json:"vermagic,omitempty"`
}

// Normalize returns a module name as the kernel compares it: '-' becomes '_'.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// ParseModinfo reads the .modinfo section of a module file. file is the path used in
// errors and for Path and the fallback name.
func ParseModinfo(r io.ReaderAt, file string) (Module, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return Module{}, fmt.Errorf("module %s: not an ELF file: %w", file, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return Module{}, fmt.Errorf("module %s: no .modinfo section", file)
	}
	data, err := sec.Data()
	if err != nil {
		return Module{}, fmt.Errorf("module %s: read .modinfo: %w", file, err)
	}
	return parseModinfoData(data, file)
}

// parseModinfoData parses NUL-separated key=value strings.
func parseModinfoData(data []byte, file string) (Module, error) {
	m := Module{Path: file}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			m.Name = Normalize(v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					m.Depends = append(m.Depends, Normalize(d))
				}
			}
		case "alias":
			m.Aliases = append(m.Aliases, v)
		case "softdep":
			m.SoftPre = append(m.SoftPre, softPre(v)...)
		case "vermagic":
			m.Vermagic = strings.TrimSpace(v)
		}
	}
	if m.Name == "" {
		m.Name = Normalize(strings.TrimSuffix(path.Base(file), ".ko"))
	}
	if m.Name == "" || strings.ContainsAny(m.Name, "/ \t\n") {
		return Module{}, fmt.Errorf("module %s: bad name %q", file, m.Name)
	}
	return m, nil
}

// softPre returns the "pre:" names of a softdep value ("pre: a b post: c").
func softPre(v string) []string {
	var out []string
	pre := false
	for _, f := range strings.Fields(v) {
		switch f {
		case "pre:":
			pre = true
		case "post:":
			pre = false
		default:
			if pre {
				out = append(out, f)
			}
		}
	}
	return out
}

// Index is the set of modules an image ships, by name, plus the names of the modules
// built into the kernel (which need no loading).
type Index struct {
	// Release is the kernel release (uname -r) the modules belong to.
	Release string `json:"release"`
	// Modules by normalized name.
	Modules map[string]*Module `json:"modules"`
	// Builtin lists modules compiled into the kernel (modules.builtin), normalized.
	Builtin []string `json:"builtin,omitempty"`
}

// ErrUnknown is returned (wrapped) for a module or alias the index does not know.
var ErrUnknown = errors.New("unknown module")

// NewIndex returns an empty index for a kernel release.
func NewIndex(release string) *Index {
	return &Index{Release: release, Modules: map[string]*Module{}}
}

// Add puts m into the index (a later module of the same name replaces the earlier).
func (ix *Index) Add(m Module) { ix.Modules[m.Name] = &m }

// IsBuiltin reports whether name is compiled into the kernel.
func (ix *Index) IsBuiltin(name string) bool {
	_, ok := slices.BinarySearch(ix.Builtin, Normalize(name))
	return ok
}

// SetBuiltin records the built-in modules from modules.builtin (one path per line,
// e.g. kernel/fs/ext4/ext4.ko).
func (ix *Index) SetBuiltin(list []byte) {
	ix.Builtin = nil
	for _, l := range strings.Split(string(list), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ix.Builtin = append(ix.Builtin, Normalize(strings.TrimSuffix(path.Base(l), ".ko")))
		}
	}
	sort.Strings(ix.Builtin)
	ix.Builtin = slices.Compact(ix.Builtin)
}

// Closure returns names and everything they depend on (depends=, and the softdep=
// pre: modules the index has), each once, in an order in which they can be loaded
// (dependencies first); built-in modules are left out. A name or
// dependency the index lacks is an error naming who needs it; so is a cycle.
func (ix *Index) Closure(names ...string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 = visiting, 2 = done
	var visit func(n, by string) error
	visit = func(n, by string) error {
		n = Normalize(n)
		switch state[n] {
		case 1:
			return fmt.Errorf("module %s: dependency cycle (through %s)", n, by)
		case 2:
			return nil
		}
		m := ix.Modules[n]
		if m == nil {
			if ix.IsBuiltin(n) {
				state[n] = 2
				return nil
			}
			if by != "" {
				return fmt.Errorf("module %s (needed by %s): %w", n, by, ErrUnknown)
			}
			return fmt.Errorf("module %s: %w", n, ErrUnknown)
		}
		state[n] = 1
		for _, soft := range m.SoftPre {
			names, _ := ix.Lookup(soft)
			for _, d := range names {
				if state[d] == 0 {
					if err := visit(d, n); err != nil {
						return err
					}
				}
			}
		}
		for _, d := range m.Depends {
			if err := visit(d, n); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Lookup resolves what modprobe is asked for: a module name, or an alias (matched
// against every module's alias= globs, as modprobe does). It returns the matching
// module names, sorted; built-in modules match with no names and a nil error.
func (ix *Index) Lookup(what string) ([]string, error) {
	if what == "" {
		return nil, fmt.Errorf("empty module name: %w", ErrUnknown)
	}
	n := Normalize(what)
	if _, ok := ix.Modules[n]; ok {
		return []string{n}, nil
	}
	if ix.IsBuiltin(n) {
		return nil, nil
	}
	var out []string
	for name, m := range ix.Modules {
		for _, a := range m.Aliases {
			if ok, _ := path.Match(a, what); ok {
				out = append(out, name)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", what, ErrUnknown)
	}
	sort.Strings(out)
	return out, nil
}
