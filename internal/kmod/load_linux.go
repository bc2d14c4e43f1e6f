package kmod

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Loader loads modules of an Index from its directory into the running kernel with
// finit_module(2), dependencies first, each at most once. It is safe for concurrent
// use; loading a module that is already loaded is success.
type Loader struct {
	// Dir is the modules directory (/lib/modules/<release>); Module.Path is relative to it.
	Dir   string
	Index *Index
	Log   *slog.Logger
	// finit loads one module file (nil: finit_module); tests replace it.
	finit func(path string) error

	mu     sync.Mutex
	loaded map[string]bool
}

// NewLoader returns a loader for the modules of ix under dir.
func NewLoader(dir string, ix *Index, log *slog.Logger) *Loader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Loader{Dir: dir, Index: ix, Log: log, loaded: map[string]bool{}}
}

// Load loads names and their dependencies. It stops at the first module that fails,
// naming it and the reason.
func (l *Loader) Load(names ...string) error {
	order, err := l.Index.Closure(names...)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range order {
		if l.loaded[n] {
			continue
		}
		m := l.Index.Modules[n]
		if err := l.load(filepath.Join(l.Dir, m.Path)); err != nil {
			return fmt.Errorf("load module %s (%s): %w", n, m.Path, err)
		}
		l.loaded[n] = true
		l.Log.Debug("module loaded", "module", n)
	}
	return nil
}

// Modprobe loads what the kernel or a user asks for: a module name or an alias (all
// matching modules, as modprobe does). A built-in module is success.
func (l *Loader) Modprobe(what string) error {
	names, err := l.Index.Lookup(what)
	if err != nil {
		return err
	}
	return l.Load(names...)
}

// Loaded returns how many modules this loader has loaded.
func (l *Loader) Loaded() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.loaded)
}

func (l *Loader) load(path string) error {
	if l.finit != nil {
		return l.finit(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// Coldplug loads the drivers of the devices present now, as udev does at boot: for
// every /sys/bus/*/devices/*/modalias it loads the modules whose aliases match, and
// repeats while that makes new devices appear (virtio_pci brings the virtio devices).
// Devices no shipped module drives are skipped. It returns how many modules it loaded.
func (l *Loader) Coldplug(sysfs string) int {
	before := l.Loaded()
	seen := map[string]bool{}
	for round := 0; round < 5; round++ {
		paths, _ := filepath.Glob(filepath.Join(sysfs, "bus", "*", "devices", "*", "modalias"))
		fresh := 0
		for _, p := range paths {
			b, err := os.ReadFile(p)
			alias := strings.TrimSpace(string(b))
			if err != nil || alias == "" || seen[alias] {
				continue
			}
			seen[alias] = true
			fresh++
			if err := l.Modprobe(alias); err != nil && !errors.Is(err, ErrUnknown) {
				l.Log.Warn("coldplug: driver failed to load", "device", filepath.Dir(p), "alias", alias, "err", err)
			}
		}
		if fresh == 0 {
			break
		}
	}
	return l.Loaded() - before
}
