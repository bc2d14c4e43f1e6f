package labcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/nat"
	"github.com/zosnet/zosnet/internal/plan"
)

// demoPunch is the demo's NAT part (issue 14): a second lab, the NAT grid
// (internal/lab/specs/nat.yaml), with a network over all of it; hidden nodes behind
// different NATs punch direct paths where their NATs allow it. It prints the ping
// matrix, each pair's path and why the relayed hidden pairs are relayed, and takes
// the lab down.
func demoPunch(ctx context.Context, w io.Writer, e *env, bin string) (err error) {
	say(w, "", "Direct paths through NATs. A second lab, the NAT grid: two public nodes and a hidden",
		"node behind each kind of NAT — easy1 and easy2 behind one home router (Linux masquerade),",
		"full (full cone), addr (address-restricted), hard (symmetric: masquerade fully-random),",
		"one (1:1 NAT) and cg (a home router behind the carrier's NAT). Hidden nodes punch a direct",
		"UDP path to each other where both NATs let it through (on by default), and keep the relay",
		"as fallback.")
	name := e.name + "nat"
	t := time.Now()
	l, err := lab.Up(ctx, lab.NATSpec(), lab.Options{Name: name, Log: e.log, Boot: true, PublicConfigs: true})
	if err != nil {
		return err
	}
	defer func() {
		if derr := lab.Down(context.Background(), name); derr != nil {
			err = errors.Join(err, derr)
		} else {
			fmt.Fprintf(w, "\nlab %s down\n", name)
		}
	}()
	m := &scenario.Mesh{Lab: l, BinDir: bin}
	nodes := scenario.Names(lab.NATSpec())
	fmt.Fprintf(w, "NAT grid up and booted as lab %q in %s; the user creates a network over all of it:\n",
		name, time.Since(t).Round(time.Millisecond))
	say(w, "  zosnet network create nat --range 10.120.0.0/16 --nodes "+strings.Join(nodes, ","))
	t = time.Now()
	n, err := m.CreateNetwork(ctx, "nat", "10.120.0.0/16", nodes)
	if err != nil {
		return err
	}
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second); err != nil {
		return err
	}
	ws, err := m.AddWorkloads(ctx, n.ID, nodes)
	if err != nil {
		return err
	}
	cells, err := m.WaitMatrix(ctx, ws, 60*time.Second)
	if err != nil {
		return err
	}
	st, settled, err := punchSettled(ctx, m, n.ID, 45*time.Second)
	if err != nil {
		return err
	}
	if settled {
		fmt.Fprintf(w, "\nEvery pair answers; every pair of hidden nodes went direct or tried and failed, %s after create:\n\n",
			time.Since(t).Round(100*time.Millisecond))
	} else {
		fmt.Fprintf(w, "\nEvery pair answers; some pairs were still trying direct paths %s after create:\n\n",
			time.Since(t).Round(100*time.Millisecond))
	}
	printMatrix(w, nodes, cells, st)
	say(w, "", "Why the relayed pairs of hidden nodes are relayed (`zosnet network status nat`, one",
		"direction of each pair):")
	said := map[[2]string]bool{}
	for _, p := range st.Pairs {
		if p.Path == plan.PathRelayed && p.NotPunched != "" && !said[[2]string{p.To, p.From}] {
			said[[2]string{p.From, p.To}] = true
			fmt.Fprintf(w, "  %s → %s: %s\n", p.From, p.To, p.NotPunched)
		}
	}
	say(w, "", "  punched   the two hidden nodes sent to each other's mapped address at once, so both NATs",
		"            opened; traffic moved off the relay after a WireGuard handshake over that path, and",
		"            goes back to the relay within about 2.5 s if the path stops answering.",
		"  The symmetric NAT gives hard a new port towards every peer: from the full-cone, 1:1 and",
		"  address-restricted NATs' nodes it still punches (they let its new port in), from the",
		"  others it stays relayed, saying why. Explore: `zoslab up --name nat --spec",
		"  internal/lab/specs/nat.yaml`.")
	return nil
}

// punchSettled polls the network's status until every relayed pair of hidden members
// has tried a direct path and failed (held until its next try, or given up), up to
// within; settled says whether it got there.
func punchSettled(ctx context.Context, m *scenario.Mesh, netID string, within time.Duration) (plan.NetworkStatus, bool, error) {
	deadline := time.Now().Add(within)
	for {
		st, err := m.Status(ctx, netID)
		if err != nil {
			return st, false, err
		}
		settled := true
		for _, p := range st.Pairs {
			if p.Path == plan.PathRelayed && !strings.HasPrefix(p.NotPunched, string(nat.PhaseHeld)) &&
				!strings.HasPrefix(p.NotPunched, string(nat.PhaseGaveUp)) {
				settled = false // not tried yet, or still trying
			}
		}
		if settled || time.Now().After(deadline) {
			return st, settled, nil
		}
		select {
		case <-ctx.Done():
			return st, false, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
