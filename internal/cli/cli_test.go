package cli

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/zosnet/zosnet/internal/gridapi"
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

func TestParsePublicConfig(t *testing.T) {
	for _, tt := range []struct {
		args [5]string
		want string // "" ok, else a substring of the error
	}{
		{[5]string{"203.0.113.10/24", "203.0.113.1", "", "", ""}, ""},
		{[5]string{"", "", "2001:db8:100::10/64", "fe80::1", "farm1.example.com"}, ""},
		{[5]string{"203.0.113.10", "203.0.113.1", "", "", ""}, "--ipv4"},
		{[5]string{"203.0.113.10/24", "gw", "", "", ""}, "--gw4"},
		{[5]string{"203.0.113.10/24", "", "", "", ""}, "gw4: required"},
		{[5]string{"", "", "", "", ""}, "ipv4: set ipv4 and/or ipv6"},
	} {
		_, err := localPublicConfig(gridapi.PublicConfig{IPv4: tt.args[0], GW4: tt.args[1], IPv6: tt.args[2], GW6: tt.args[3], Domain: tt.args[4]})
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}
