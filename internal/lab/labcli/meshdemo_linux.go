package labcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/plan"
)

// meshDemo is `zoslab demo` (issue 7): the default farm booted with the whole OS, a user
// network over all six nodes, a workload on each, the all-pairs ping matrix with the
// path of each pair, and the user's laptop joining with wg-quick and pinging a
// workload on a hidden node.
func meshDemo(ctx context.Context, e *env, stay bool) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	bin := filepath.Dir(exe)
	for _, b := range []string{"registry", "netinit", "networkd", "provisiond", "zosnet", "pebble"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("demo: %s is missing next to zoslab (run `make demo`, which builds bin/): %w", b, err)
		}
	}
	w := e.out
	say(w, "Bringing up the farm of the 0-OS network document in namespaces on this machine: a",
		"registry and a user on the internet, a farm with two public nodes (farm1, farm2) and a",
		"node behind the farm's NAT (farm3), two nodes behind a home NAT (home1, home2) and one",
		"behind a dual-stack home router that firewalls inbound IPv6 (home6). Every node boots",
		"netinit, then networkd, then provisiond, which registers it with the registry.")
	t := time.Now()
	l, err := lab.Up(ctx, lab.DefaultSpec(), lab.Options{Name: e.name, Log: e.log, Boot: true, PublicConfigs: true})
	if err != nil {
		return err
	}
	m := &scenario.Mesh{Lab: l, BinDir: bin}
	down := func() error {
		m.RemoveDevice(context.Background())
		derr := lab.Down(context.Background(), e.name)
		if derr == nil {
			fmt.Fprintf(w, "\nlab %s down\n", e.name)
		}
		return derr
	}
	up := true
	defer func() {
		if up && !stay {
			err = errors.Join(err, down())
		}
	}()
	fmt.Fprintf(w, "farm up and booted as lab %q in %s\n\n", e.name, time.Since(t).Round(time.Millisecond))
	if err := demoSteps(ctx, w, m); err != nil {
		return err
	}
	if stay {
		fmt.Fprintf(w, "\nlab %s stays up: zoslab exec --name %s user -- zosnet network status demo; zoslab down --name %s\n", e.name, e.name, e.name)
	} else {
		up = false
		if err := down(); err != nil { // the farm goes before the NAT grid comes
			return err
		}
	}
	if err := demoPunch(ctx, w, e, bin); err != nil {
		return err
	}
	if !stay {
		fmt.Fprintln(w, "nothing is left running")
	}
	return nil
}

func demoSteps(ctx context.Context, w io.Writer, m *scenario.Mesh) error {
	nodes := scenario.Names(lab.DefaultSpec())
	out, _ := m.Run(ctx, lab.UserHost, "zosnet", "node", "list")
	say(w, "The nodes as the registry knows them (`zoslab exec user -- zosnet node list`); the",
		"farmer gave farm1 and farm2 public addresses, the others are hidden:")
	indent(w, out)
	say(w, "", "The user creates one network over all six nodes:",
		"  zosnet network create demo --range 10.100.0.0/16 --nodes "+strings.Join(nodes, ","))
	t := time.Now()
	n, err := m.CreateNetwork(ctx, "demo", "10.100.0.0/16", nodes)
	if err != nil {
		return err
	}
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second); err != nil {
		return err
	}
	say(w, "", "The user deploys a workload on each node through the grid, never logging into a node:",
		"  zosnet workload add demo farm1 w-farm1   (and one per node)",
		"Each node's provisiond sees it, attaches it through networkd and reports its addresses:")
	ws, err := m.AddGridWorkloads(ctx, n.ID, nodes, 60*time.Second)
	if err != nil {
		return err
	}
	out, _ = m.Run(ctx, lab.UserHost, "zosnet", "workload", "list", "demo")
	indent(w, out)
	cells, err := m.WaitMatrix(ctx, ws, 90*time.Second)
	fmt.Fprintf(w, "\nEach node planned its own WireGuard peers from the registry's facts; every workload\n"+
		"pinged every other one over the overlay (%s after create):\n\n", time.Since(t).Round(100*time.Millisecond))
	st, serr := m.Status(ctx, n.ID)
	printMatrix(w, nodes, cells, st)
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	explainPaths(w, st)
	if err := demoDevice(ctx, w, m, n.ID, ws); err != nil {
		return err
	}
	if err := demoPublic(ctx, w, m, n.ID); err != nil {
		return err
	}
	return demoGateway(ctx, w, m, ws)
}

// demoPublic: the farmer's public IPv4 pool, and a workload on farm1 with a public
// IPv4 and IPv6 whose TCP service answers from the internet.
func demoPublic(ctx context.Context, w io.Writer, m *scenario.Mesh, netID string) error {
	say(w, "", "The farmer offers public IPv4 addresses for workloads, and the user gives a workload on",
		"farm1 one of them and an IPv6 of farm1's public /64:",
		"  zosnet farm public-ips add labfarm 203.0.113.50/24 --gateway 203.0.113.1 --profile farmer",
		"  zosnet workload add demo farm1 site --public-ipv4 --public-ipv6")
	if err := m.Zosnet(ctx, nil, "farm", "public-ips", "add", lab.GridFarm, "203.0.113.50/24", "--gateway", "203.0.113.1", "--profile", "farmer"); err != nil {
		return err
	}
	t := time.Now()
	if err := m.Zosnet(ctx, nil, "workload", "add", netID, "farm1", "site", "--public-ipv4", "--public-ipv6"); err != nil {
		return err
	}
	site, gw, err := m.GridWorkload(ctx, netID, "farm1", "site", 60*time.Second)
	if err != nil {
		return err
	}
	out, _ := m.Run(ctx, lab.UserHost, "zosnet", "workload", "show", "demo", "site")
	indent(w, out)
	if _, err := m.ServeTCP("farm1", site.Netns, 80, "hello from site on farm1"); err != nil {
		return err
	}
	var addrs []netip.Addr
	for _, s := range []string{gw.Report.PublicIPv4, gw.Report.PublicIPv6} {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("site's public address %q: %w", s, err)
		}
		addrs = append(addrs, p.Addr())
	}
	fmt.Fprintln(w, "\nA TCP service in it (busybox nc on port 80), asked from the `internet` host:")
	for _, a := range addrs {
		var got string
		err := scenario.Poll(ctx, 20*time.Second, func() (err error) {
			got, err = m.DialTCP(ctx, "internet", "", a, 80)
			return err
		})
		if err != nil {
			return fmt.Errorf("internet → site on %s: %w", a, err)
		}
		fmt.Fprintf(w, "  internet$ nc %s 80\n  %s\n", a, got)
	}
	fmt.Fprintf(w, "(%s from `workload add`.) Its second interface is bridged to farm1's br-pub and may send\n", time.Since(t).Round(100*time.Millisecond))
	say(w, "only from its own MAC and addresses; the other workloads and farm1 itself stay unreachable",
		"from the internet.")
	return nil
}

func demoDevice(ctx context.Context, w io.Writer, m *scenario.Mesh, netID string, ws []scenario.Workload) error {
	say(w, "", "Now the user's laptop (the `user` host) joins: `zosnet network access add demo --device laptop`",
		"makes a WireGuard key on the laptop, registers only its public key, and writes a wg-quick file;",
		"Debian's wg-quick brings it up with wireguard-go.")
	d, err := m.AddDevice(ctx, netID, "laptop")
	if err != nil {
		return err
	}
	b, _ := os.ReadFile(d.File)
	indent(w, redact(b))
	var target scenario.Workload
	for _, x := range ws {
		if x.Node == "home1" {
			target = x
		}
	}
	t := time.Now()
	var perr error
	for time.Since(t) < 30*time.Second {
		if perr = m.DevicePing(ctx, target.IPv4.Addr(), 3); perr == nil {
			break
		}
	}
	if perr != nil {
		return fmt.Errorf("laptop → home1's workload %s: %w", target.IPv4.Addr(), perr)
	}
	fmt.Fprintf(w, "\nThe laptop (%s) pings the workload on hidden node home1 (%s) through %s: OK.\n", d.Address, target.IPv4.Addr(), d.AccessNode)
	say(w, "Nothing in home1 accepts connections from the internet: home1 dialed out to the public nodes,",
		"and the laptop's packets reach it through the access node over those encrypted tunnels.")
	return nil
}

func printMatrix(w io.Writer, nodes []string, cells []scenario.Cell, st plan.NetworkStatus) {
	ok := map[[2]string]bool{}
	for _, c := range cells {
		ok[[2]string{c.From, c.To}] = c.OK
	}
	fmt.Fprintf(w, "  %-8s", "from\\to")
	for _, n := range nodes {
		fmt.Fprintf(w, "%-8s", n)
	}
	fmt.Fprintln(w)
	for _, a := range nodes {
		fmt.Fprintf(w, "  %-8s", a)
		for _, b := range nodes {
			mark := "  -"
			if a != b {
				mark = "  FAIL"
				if ok[[2]string{a, b}] {
					mark = "  ok"
				}
			}
			fmt.Fprintf(w, "%-8s", mark)
		}
		fmt.Fprintln(w)
	}
	path := map[[2]string]string{}
	for _, p := range st.Pairs {
		path[[2]string{p.From, p.To}] = string(p.Path)
		if p.Path == "same-lan" {
			path[[2]string{p.From, p.To}] = "lan"
		}
		if p.Via != "" {
			path[[2]string{p.From, p.To}] = "via " + p.Via
		}
	}
	fmt.Fprintf(w, "\n  the path of each pair (`zosnet network status %s`):\n", st.Name)
	fmt.Fprintf(w, "  %-8s", "from\\to")
	for _, n := range nodes {
		fmt.Fprintf(w, "%-11s", n)
	}
	fmt.Fprintln(w)
	for _, a := range nodes {
		fmt.Fprintf(w, "  %-8s", a)
		for _, b := range nodes {
			c := "-"
			if a != b {
				c = path[[2]string{a, b}]
			}
			fmt.Fprintf(w, "%-11s", c)
		}
		fmt.Fprintln(w)
	}
}

func explainPaths(w io.Writer, st plan.NetworkStatus) {
	relays := "—"
	for _, p := range st.Pairs {
		if p.Path == plan.PathRelayed && len(p.Relays) > 0 {
			relays = p.Relays[0]
			if len(p.Relays) > 1 {
				relays += " (then " + p.Relays[1] + " for failover)"
			}
			relays += " for " + p.From + "↔" + p.To
			break
		}
	}
	say(w, "", "What the paths mean:",
		"  direct    the two nodes are WireGuard peers; at least one of them is public, the hidden one dials",
		"            out and keeps its NAT/firewall open with a keepalive every 25 s;",
		"  same-lan  home1 and home2 sit behind the same home router: they peer directly over their LAN",
		"            addresses, so their traffic never leaves the home (0-OS today sends it via a public node);",
		"  relayed   two hidden nodes on different LANs cannot reach each other, so a public node forwards",
		"            between them: relay "+relays+". Each hidden node has its own two home relays,",
		"            spread over the public nodes; a pair goes through those of one of its ends. If a",
		"            relay stops answering, its pairs move to their second relay by themselves, and back",
		"            when it returns. Hidden nodes behind different NATs also punch a direct path",
		"            (`punched`) where their NATs allow it, keeping the relay as fallback; this farm",
		"            turns that off (zosnet.punch=off) to show the relays; the demo's last part shows",
		"            it on a lab with a hidden node behind every kind of NAT.")
}

func say(w io.Writer, lines ...string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

func indent(w io.Writer, b []byte) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintln(w, "    "+l)
	}
}

// redact hides the private key when printing the wg-quick file.
func redact(b []byte) []byte {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "PrivateKey") {
			l = "PrivateKey = (kept in the file, mode 0600)"
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}
