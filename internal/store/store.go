// Package store persists networkd's desired state in the node's state directory.
//
// Every write is atomic: the data goes to a temporary file in the same directory, is
// fsynced, renamed over the old file and the directory is fsynced, so a crash (kill -9,
// power loss) leaves either the old or the new content, never a torn file. Secrets
// (WireGuard private keys) are files of mode 0600 under keys/ and never leave the node.
// A Dir is safe for concurrent use by one process.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

// Dir is a state directory.
type Dir struct {
	path string
	mu   sync.Mutex
}

// Open creates (0700) or opens the state directory at path.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(path, "keys"), 0o700); err != nil {
		return nil, fmt.Errorf("open state dir %s: %w", path, err)
	}
	return &Dir{path: path}, nil
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("state file name %q: must be [a-zA-Z0-9._-], ≤ 64 bytes", name)
	}
	return nil
}

// WriteJSON atomically replaces file name with v as indented JSON (mode 0600).
func (d *Dir) WriteJSON(name string, v any) error {
	if err := checkName(name); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state %s: %w", name, err)
	}
	return d.write(name, append(b, '\n'))
}

// ReadJSON decodes file name into v. A missing file is (false, nil).
func (d *Dir) ReadJSON(name string, v any) (bool, error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	b, err := os.ReadFile(filepath.Join(d.path, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode state %s: %w", filepath.Join(d.path, name), err)
	}
	return true, nil
}

// WriteSecret atomically writes keys/<name> with mode 0600.
func (d *Dir) WriteSecret(name string, b []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	return d.write(filepath.Join("keys", name), b)
}

// ReadSecret reads keys/<name>; a missing secret is (nil, nil).
func (d *Dir) ReadSecret(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d.path, "keys", name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	return b, nil
}

// RemoveSecret deletes keys/<name>; a missing one is success.
func (d *Dir) RemoveSecret(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(d.path, "keys", name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove secret %s: %w", name, err)
	}
	return syncDir(filepath.Join(d.path, "keys"))
}

func (d *Dir) write(rel string, b []byte) error {
	if err := checkName(filepath.Base(rel)); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dst := filepath.Join(d.path, rel)
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(rel)+"-")
	if err != nil {
		return fmt.Errorf("write state %s: %w", rel, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write state %s: %w", rel, err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("write state %s: %w", rel, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync state %s: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close state %s: %w", rel, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("replace state %s: %w", rel, err)
	}
	ok = true
	return syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
