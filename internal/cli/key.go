package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/zosnet/zosnet/internal/identity"
)

// keyCommands are `zosnet key create|show`.
func keyCommands() []*Command {
	return []*Command{
		{Name: "create", Summary: "create an ed25519 identity key (0600) in the config dir", Usage: "[NAME]",
			Run: func(_ context.Context, env *Env, args []string) error {
				name, path, err := keyArg(args)
				if err != nil {
					return err
				}
				k, err := identity.Generate()
				if err != nil {
					return err
				}
				if err := k.Save(path); err != nil {
					return fmt.Errorf("key %s: %w", name, err)
				}
				return printKey(env, name, path, k)
			}},
		{Name: "show", Summary: "show a key's id (public key)", Usage: "[NAME]",
			Flags: func(*flag.FlagSet) {},
			Run: func(_ context.Context, env *Env, args []string) error {
				name, path, err := keyArg(args)
				if err != nil {
					return err
				}
				k, err := identity.Load(path)
				if err != nil {
					return fmt.Errorf("key %s: %w", name, err)
				}
				return printKey(env, name, path, k)
			}},
	}
}

func keyArg(args []string) (name, path string, err error) {
	if len(args) > 1 {
		return "", "", fmt.Errorf("%w: at most one key name", ErrUsage)
	}
	name = "default"
	if len(args) == 1 {
		name = args[0]
	}
	dir, err := ConfigDir()
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", "", err
		}
	}
	return name, keyPath(dir, name), nil
}

func printKey(env *Env, name, path string, k *identity.Key) error {
	v := map[string]string{"name": name, "id": k.ID(), "file": path}
	return env.Print(v, func(w io.Writer) {
		fmt.Fprintf(w, "name\t%s\nid\t%s\nfile\t%s\n", name, k.ID(), path)
	})
}

// profileCommands are `zosnet profile set|use|list`.
func profileCommands() []*Command {
	var set struct { // profile set's flags
		p   Profile
		use bool
	}
	return []*Command{
		{Name: "set", Summary: "create or change a profile", Usage: "NAME [--registry URL] [--ca FILE] [--key NAME] [--use]",
			Flags: func(fs *flag.FlagSet) {
				fs.StringVar(&set.p.Registry, "registry", "", "registry URL")
				fs.StringVar(&set.p.CA, "ca", "", "CA bundle to trust")
				fs.StringVar(&set.p.Key, "key", "", "key name or file")
				fs.BoolVar(&set.use, "use", false, "make it the current profile")
			},
			Run: func(_ context.Context, env *Env, args []string) error {
				if err := needArgs(args, 1, "NAME"); err != nil {
					return err
				}
				return updateConfig(func(c *Config) error {
					old := c.Profiles[args[0]]
					p := set.p
					old.Registry, old.CA, old.Key = firstNonEmpty(p.Registry, old.Registry), firstNonEmpty(p.CA, old.CA), firstNonEmpty(p.Key, old.Key)
					if c.Profiles == nil {
						c.Profiles = map[string]Profile{}
					}
					c.Profiles[args[0]] = old
					if set.use || c.Current == "" {
						c.Current = args[0]
					}
					return nil
				})
			}},
		{Name: "use", Summary: "make a profile the current one", Usage: "NAME",
			Run: func(_ context.Context, _ *Env, args []string) error {
				if err := needArgs(args, 1, "NAME"); err != nil {
					return err
				}
				return updateConfig(func(c *Config) error {
					if _, ok := c.Profiles[args[0]]; !ok {
						return fmt.Errorf("profile %q not found", args[0])
					}
					c.Current = args[0]
					return nil
				})
			}},
		{Name: "list", Summary: "list profiles",
			Run: func(_ context.Context, env *Env, _ []string) error {
				c, _, err := loadConfig()
				if err != nil {
					return err
				}
				return env.Print(c, func(w io.Writer) {
					fmt.Fprintln(w, "CURRENT\tNAME\tREGISTRY\tCA\tKEY")
					for _, n := range sortedKeys(c.Profiles) {
						p := c.Profiles[n]
						cur := ""
						if n == c.Current {
							cur = "*"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", cur, n, p.Registry, p.CA, p.Key)
					}
				})
			}},
	}
}

func updateConfig(fn func(c *Config) error) error {
	c, dir, err := loadConfig()
	if err != nil {
		return err
	}
	if err := fn(&c); err != nil {
		return err
	}
	return saveConfig(dir, c)
}
