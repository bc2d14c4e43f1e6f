package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

// The registry commands (key, profile, farm, network, node list|show|public-config)
// read $ZOSNET_CONFIG_DIR, else $XDG_CONFIG_HOME/zosnet, else ~/.config/zosnet:
//
//	config.yaml   current profile and profiles (registry URL, CA bundle, key name)
//	keys/NAME.key ed25519 keys, mode 0600
//
// Flags --registry, --ca, --key and --profile override the profile; so do the
// environment variables ZOSNET_REGISTRY and ZOSNET_PROFILE.

// Profile is one named set of registry settings.
type Profile struct {
	Registry string `yaml:"registry"`
	CA       string `yaml:"ca,omitempty"`
	Key      string `yaml:"key,omitempty"` // key name in keys/, or a path
}

// Config is config.yaml.
type Config struct {
	Current  string             `yaml:"current,omitempty"`
	Profiles map[string]Profile `yaml:"profiles,omitempty"`
}

// labConfigRoot is zoslab's state root (lab.StateRoot): `zoslab up` writes the CLI
// config of its `user` host to <root>/<lab>/zosnet.
const labConfigRoot = "/run/zoslab"

// ConfigDir returns the zosnet configuration directory: $ZOSNET_CONFIG_DIR; in a zoslab
// host ($ZOSLAB_LAB set) the lab's CLI config when it exists; $XDG_CONFIG_HOME/zosnet;
// ~/.config/zosnet.
func ConfigDir() (string, error) {
	if d := os.Getenv("ZOSNET_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if lab := os.Getenv("ZOSLAB_LAB"); lab != "" && !strings.ContainsAny(lab, "/.") {
		d := filepath.Join(labConfigRoot, lab, "zosnet")
		if _, err := os.Stat(filepath.Join(d, "config.yaml")); err == nil {
			return d, nil
		}
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "zosnet"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("config dir: %w (set ZOSNET_CONFIG_DIR)", err)
	}
	return filepath.Join(home, ".config", "zosnet"), nil
}

func loadConfig() (Config, string, error) {
	dir, err := ConfigDir()
	if err != nil {
		return Config{}, "", err
	}
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return c, dir, nil
	}
	if err != nil {
		return c, dir, fmt.Errorf("read config: %w", err)
	}
	if c, err = parseConfig(b); err != nil {
		return c, dir, fmt.Errorf("config %s: %w", filepath.Join(dir, "config.yaml"), err)
	}
	return c, dir, nil
}

// parseConfig decodes config.yaml strictly (unknown keys are errors).
func parseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	return c, nil
}

func saveConfig(dir string, c Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp := filepath.Join(dir, ".config.yaml.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, "config.yaml"))
}

// keyPath maps a key name (or a path containing '/') to its file.
func keyPath(dir, name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return filepath.Join(dir, "keys", name+".key")
}

// gridOpts are the flags every registry command has.
type gridOpts struct {
	registry, ca, key, profile string
}

func (o *gridOpts) register(fs *flag.FlagSet) {
	fs.StringVar(&o.registry, "registry", "", "registry URL (default: the profile's, or $ZOSNET_REGISTRY)")
	fs.StringVar(&o.ca, "ca", "", "CA bundle (PEM) to trust for the registry")
	fs.StringVar(&o.key, "key", "", "key name (in the config dir's keys/) or key file")
	fs.StringVar(&o.profile, "profile", "", "profile (default: the current one, or $ZOSNET_PROFILE)")
}

// grid is a resolved registry connection.
type grid struct {
	c   *gridapi.Client
	key *identity.Key // nil when no key is configured
}

// client resolves flags, environment and profile into a client; needKey fails
// without a usable key.
func (o *gridOpts) client(needKey bool) (*grid, error) {
	cfg, dir, err := loadConfig()
	if err != nil {
		return nil, err
	}
	pname := firstNonEmpty(o.profile, os.Getenv("ZOSNET_PROFILE"), cfg.Current)
	p, ok := cfg.Profiles[pname]
	if pname != "" && !ok && o.profile != "" {
		return nil, fmt.Errorf("profile %q not found in %s/config.yaml (zosnet profile set)", pname, dir)
	}
	reg := firstNonEmpty(o.registry, os.Getenv("ZOSNET_REGISTRY"), p.Registry)
	if reg == "" {
		return nil, errors.New("no registry: pass --registry URL or set a profile (zosnet profile set NAME --registry URL)")
	}
	hc, err := gridapi.HTTPClient(firstNonEmpty(o.ca, p.CA))
	if err != nil {
		return nil, err
	}
	g := &grid{c: &gridapi.Client{Base: reg, HTTP: hc}}
	kname := firstNonEmpty(o.key, p.Key, "default")
	k, err := identity.Load(keyPath(dir, kname))
	switch {
	case err == nil:
		g.key, g.c.Key = k, k
	case needKey:
		return nil, fmt.Errorf("key %q: %w (create one with `zosnet key create %s`)", kname, err, kname)
	}
	return g, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// gridCommand builds a registry command with the shared flags plus extra ones.
func gridCommand(name, summary, usage string, needKey bool, extra func(fs *flag.FlagSet),
	run func(ctx context.Context, env *Env, g *grid, args []string) error) *Command {
	var o gridOpts
	return &Command{Name: name, Summary: summary, Usage: usage,
		Flags: func(fs *flag.FlagSet) {
			o.register(fs)
			if extra != nil {
				extra(fs)
			}
		},
		Run: func(ctx context.Context, env *Env, args []string) error {
			g, err := o.client(needKey)
			if err != nil {
				return err
			}
			return run(ctx, env, g, args)
		}}
}

// nodeID resolves a node id or name.
func (g *grid) nodeID(ctx context.Context, idOrName string) (int64, error) {
	n, err := g.c.Node(ctx, idOrName)
	if err != nil {
		return 0, fmt.Errorf("node %s: %w", idOrName, err)
	}
	return n.ID, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func needArgs(args []string, n int, usage string) error {
	if len(args) != n {
		return fmt.Errorf("%w: want %s", ErrUsage, usage)
	}
	return nil
}
