package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/plan"
)

// status builds a network's status (plan.StatusOf) from the registry's view of it, the
// one a member node gets.
func (g *grid) status(ctx context.Context, idOrName string) (plan.NetworkStatus, error) {
	n, err := g.network(ctx, idOrName)
	if err != nil {
		return plan.NetworkStatus{}, err
	}
	dn, err := g.desiredNetwork(ctx, n)
	if err != nil {
		return plan.NetworkStatus{}, err
	}
	return plan.StatusOf(dn, time.Now(), plan.Fresh), nil
}

func printStatus(w io.Writer, st plan.NetworkStatus) {
	fmt.Fprintf(w, "network %s (%s)  range %s  relays %s\n\n", st.Name, st.ID, st.Range, strings.Join(st.Relays, ", "))
	fmt.Fprintln(w, "MEMBER\tSUBNET\tSTATE\tHIDDEN\tRELAY\tENDPOINTS\tERROR")
	for _, m := range st.Members {
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", m.Name, m.Subnet, m.State, m.Hidden, dash(m.Relay), dash(strings.Join(m.Endpoints, ",")), dash(m.LastError))
	}
	if st.PlanError != "" {
		fmt.Fprintf(w, "\nno plan yet: %s\n", st.PlanError)
		return
	}
	if len(st.RelayLoad) > 0 {
		fmt.Fprintln(w, "\nRELAY\tHOME OF\tMEMBERS\tRELAYED PAIRS")
		for _, l := range st.RelayLoad {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", l.Relay, l.Homes, l.Members, l.Pairs)
		}
	}
	fmt.Fprintln(w, "\nFROM\tTO\tPATH\tVIA\tRELAYS\tFAILED OVER\tREACHABLE\tLAST REPLY")
	for _, p := range st.Pairs {
		lr, fo := "never", "-"
		if p.LastReply != nil {
			lr = ago(*p.LastReply)
		}
		if p.FailedOverSince != nil {
			fo = ago(*p.FailedOverSince)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", p.From, p.To, p.Path, dash(p.Via), dash(strings.Join(p.Relays, ",")), fo, p.Reachable, lr)
	}
	printNotPunched(w, st)
}

// printNotPunched lists, for the relayed pairs of hidden members, why they are not on
// a punched direct path (docs/troubleshooting.md "Why is a pair relayed?").
func printNotPunched(w io.Writer, st plan.NetworkStatus) {
	head := false
	for _, p := range st.Pairs {
		if p.NotPunched == "" {
			continue
		}
		if !head {
			fmt.Fprintln(w, "\nRELAYED HIDDEN PAIRS: WHY NOT PUNCHED")
			head = true
		}
		fmt.Fprintf(w, "%s → %s: %s\n", p.From, p.To, p.NotPunched)
	}
}
