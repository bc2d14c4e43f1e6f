// Package identity holds zosnet's ed25519 identities (users, farmers, nodes) and the
// request signing scheme every registry write uses.
//
// A key's id is the lowercase hex of its 32-byte public key. Keys are stored as one line
// of hex (the 32-byte seed) in a file with mode 0600. Key values are immutable and safe
// for concurrent use.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IDLen is the length of a key id: 64 hex characters.
const IDLen = 2 * ed25519.PublicKeySize

// Key is an ed25519 private key.
type Key struct {
	priv ed25519.PrivateKey
}

// Generate makes a new random key.
func Generate() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return &Key{priv: priv}, nil
}

// FromSeed makes the key for a 32-byte seed (deterministic; tests and fixtures).
func FromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key seed: %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &Key{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// ID returns the key id (hex public key).
func (k *Key) ID() string { return hex.EncodeToString(k.Public()) }

// Public returns the public key.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Sign signs msg.
func (k *Key) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// ParseID checks a key id and returns its public key. Errors say what is wrong.
func ParseID(id string) (ed25519.PublicKey, error) {
	if len(id) != IDLen {
		return nil, fmt.Errorf("key id: %d characters, want %d hex characters", len(id), IDLen)
	}
	if strings.ToLower(id) != id {
		return nil, errors.New("key id: must be lowercase hex")
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		return nil, fmt.Errorf("key id: not hex: %w", err)
	}
	return ed25519.PublicKey(b), nil
}

// Load reads a key file written by Save.
func Load(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// ParseKey parses the contents of a key file: the 32-byte seed in hex, one line.
func ParseKey(b []byte) (*Key, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	return FromSeed(seed)
}

// Save writes the key to path with mode 0600 (its directory 0700 if created). It refuses
// to overwrite an existing file, so a key is never lost by mistake. The file appears
// atomically (written to a temporary name, then linked).
func (k *Key) Save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save key: %w", err)
	}
	_, err = fmt.Fprintln(tmp, hex.EncodeToString(k.priv.Seed()))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("save key %s: %w", path, err)
	}
	return nil
}

// LoadOrCreate loads the key at path, or creates and saves a new one when the file does
// not exist (a node's key at first boot). created reports which happened.
func LoadOrCreate(path string) (k *Key, created bool, err error) {
	k, err = Load(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if k, err = Generate(); err != nil {
		return nil, false, err
	}
	if err := k.Save(path); err != nil {
		if errors.Is(err, os.ErrExist) { // lost a race with another creator: use theirs
			k, err = Load(path)
			return k, false, err
		}
		return nil, false, err
	}
	return k, true, nil
}
