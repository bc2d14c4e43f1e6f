package cli

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

func TestDispatchAndFlags(t *testing.T) {
	var got []string
	var rng string
	root := &Command{Name: "zosnet", Sub: []*Command{{
		Name: "network", Sub: []*Command{{
			Name:  "create",
			Flags: func(fs *flag.FlagSet) { fs.StringVar(&rng, "range", "", "") },
			Run: func(_ context.Context, env *Env, args []string) error {
				got = args
				return env.Print(map[string]string{"name": args[0]}, nil)
			},
		}},
	}}}
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &out}
	err := root.run(context.Background(), env, nil, []string{"network", "create", "net1", "--range", "10.1.0.0/16", "--json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "net1" || rng != "10.1.0.0/16" || !strings.Contains(out.String(), `"name": "net1"`) {
		t.Fatalf("args=%v range=%q out=%q", got, rng, out.String())
	}
	if err := root.run(context.Background(), env, nil, []string{"nope"}); err == nil {
		t.Fatal("unknown command must fail")
	}
}
