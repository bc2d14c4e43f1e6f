package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/image/imagetest"
	"github.com/zosnet/zosnet/internal/lab"
	"github.com/zosnet/zosnet/internal/lab/scenario"
	"github.com/zosnet/zosnet/internal/testkit"
)

// vmFarm is the default farm with its namespace nodes replaced by VM nodes.
func vmFarm(b testing.TB, vms ...lab.Node) *lab.Spec {
	s := lab.DefaultSpec()
	s.Nodes = vms
	if err := s.Validate(); err != nil {
		b.Fatal(err)
	}
	return s
}

func vmNode(name, boot, extra string, segs ...string) lab.Node {
	n := lab.Node{Name: name, Kind: lab.KindVM, VM: &lab.VM{Boot: boot},
		Cmdline: strings.TrimSpace("farmer_id=1 zosnet.registry=https://198.51.100.10:8443 " + extra)}
	for _, s := range segs {
		n.NICs = append(n.NICs, lab.NIC{Segment: s})
	}
	return n
}

// BenchmarkVMBoot: power-on → registered of one VM node on the default farm's OOB, per
// boot method (TCG; kernel = qemu -kernel, disk = OVMF + systemd-boot from the EFI
// disk, pxe = iPXE + TFTP from farmgw's dnsmasq). Reported: registered-s (lab up, VM
// powered on, until the registry knows the node), kernel-to-init-s.
//
//	go test -run '^$' -bench VMBoot -benchtime 1x ./internal/e2e/
func BenchmarkVMBoot(b *testing.B) {
	testkit.RequireRoot(b)
	img, _ := imagetest.Build(b)
	bin := buildBins(b)
	for _, boot := range []string{lab.BootKernel, lab.BootDisk, lab.BootPXE} {
		b.Run(boot, func(b *testing.B) {
			var regs, k2is []float64
			for range b.N {
				reg, k2i := bootOnce(b, bin, img, boot)
				regs, k2is = append(regs, reg.Seconds()), append(k2is, k2i)
			}
			b.Logf("%s: registered after %v s, kernel to init %v s", boot, regs, k2is)
			b.ReportMetric(median64(regs), "registered-s")
			b.ReportMetric(median64(k2is), "kernel-to-init-s")
		})
	}
}

func bootOnce(b *testing.B, bin, img, boot string) (time.Duration, float64) {
	ctx := context.Background()
	name := testkit.Name("vb")
	defer lab.Down(ctx, name)
	start := time.Now()
	l, err := lab.Up(ctx, vmFarm(b, vmNode("vm1", boot, "", "oob")), lab.Options{Name: name, BinDir: bin, ImageDir: img,
		Boot: true, PublicConfigs: true, BootTimeout: 5 * time.Minute, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	reg := time.Since(start)
	rep, err := l.VMStatus(ctx, "vm1")
	if err != nil {
		b.Fatal(err)
	}
	return reg, rep.Uptime - rep.InitUp
}

// BenchmarkVMWireGuard: TCP throughput (iperf3, one stream, 5 s, 5 rounds, median)
// between workloads of one network on two VM nodes (OOB, same LAN), first with the
// kernel's WireGuard (what networkd picks in the VMs), then — on the same guests, same
// keys and ports — with wireguard-go, after a power-cycle with zosnet.wireguard=userspace;
// and the underlay (the VMs' zos addresses, no tunnel; the port opened in networkd's
// host firewall for the round). TCG figures: the guests'
// CPUs are emulated, so they say how the two paths compare, not what hardware does.
//
//	go test -run '^$' -bench VMWireGuard -benchtime 1x ./internal/e2e/
func BenchmarkVMWireGuard(b *testing.B) {
	img, _ := imagetest.Build(b)
	m := upMeshOpts(b, vmFarm(b, vmNode("vm1", lab.BootKernel, "", "oob"), vmNode("vm2", lab.BootKernel, "", "oob")),
		lab.Options{PublicConfigs: true, ImageDir: img, BootTimeout: 5 * time.Minute})
	ctx := context.Background()
	nodes := []string{"vm1", "vm2"}
	n, err := m.CreateNetwork(ctx, "bench", "10.100.0.0/16", nodes)
	if err != nil {
		b.Fatal(err)
	}
	measure := func(kind string) float64 {
		for _, vm := range nodes { // networkd re-applied the NR (after a reboot the registry's view is older)
			if nr := nrOf(b, m, vm, n.ID, 3*time.Minute); nr.Status.WGKind != kind {
				b.Fatalf("%s's NR uses %s WireGuard, want %s", vm, nr.Status.WGKind, kind)
			}
		}
		if got := nodeWireGuard(b, m, "vm1"); got != kind {
			b.Fatalf("vm1 uses %s WireGuard, want %s", got, kind)
		}
		ws, err := m.AddWorkloads(ctx, n.ID, nodes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WaitMatrix(ctx, ws, 3*time.Minute); err != nil {
			b.Fatal(err)
		}
		return medianOf(b, 5, func() float64 {
			return vmIperf(b, m, ws[1].Node, ws[1].Netns, ws[0].Node, ws[0].Netns, ws[0].IPv4.Addr())
		})
	}
	underlay := medianOf(b, 5, func() float64 {
		return vmIperf(b, m, "vm2", "", "vm1", "", zosAddr(b, m, "vm1"))
	})
	kernel := measure("kernel")
	var wg sync.WaitGroup
	for _, vm := range nodes {
		if err := m.Lab.SetCmdline(vm, vmNode(vm, lab.BootKernel, "zosnet.wireguard=userspace").Cmdline); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Lab.Reboot(ctx, vm, lab.Options{BinDir: m.BinDir, Boot: true, BootTimeout: 5 * time.Minute}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	user := measure("userspace")
	b.ReportMetric(kernel, "kernel-Mbit/s")
	b.ReportMetric(user, "wggo-Mbit/s")
	b.ReportMetric(kernel/user, "kernel/wggo")
	b.ReportMetric(underlay, "underlay-Mbit/s")
}

func medianOf(b *testing.B, n int, f func() float64) float64 {
	var v []float64
	for range n {
		v = append(v, f())
	}
	b.Logf("rounds (Mbit/s): %v", v)
	return median64(v)
}

func median64(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// zosAddr is a VM node's address on its zos bridge.
func zosAddr(b *testing.B, m *scenario.Mesh, node string) netip.Addr {
	out, err := m.Run(context.Background(), node, "ip", "-j", "-4", "addr", "show", "zos")
	if err != nil {
		b.Fatal(err)
	}
	var links []struct {
		Addrs []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) == 0 || len(links[0].Addrs) == 0 {
		b.Fatalf("%s: zos address: %v: %s", node, err, out)
	}
	return netip.MustParseAddr(links[0].Addrs[0].Local)
}

// vmIperf runs iperf3 from cli (in netns cliNS, "" = the node's host namespace) to srv
// and returns the receiver's Mbit/s.
func vmIperf(b *testing.B, m *scenario.Mesh, cli, cliNS, srv, srvNS string, dst netip.Addr) float64 {
	ctx := context.Background()
	in := func(ns string, argv ...string) []string {
		if ns == "" {
			return argv
		}
		return append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	if _, err := m.Run(ctx, srv, in(srvNS, "iperf3", "-s", "-1", "-D", "-p", "5301")...); err != nil {
		b.Fatalf("iperf3 server on %s: %v", srv, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if srvNS == "" { // networkd's host firewall accepts no new inbound but WireGuard, and rebuilds its table now and then
			if _, err := m.Run(ctx, srv, "nft", "insert", "rule", "inet", "zosnet-host", "input", "tcp", "dport", "5301", "accept"); err != nil {
				b.Fatalf("open the iperf3 port on %s: %v", srv, err)
			}
		}
		out, err := m.Run(ctx, cli, in(cliNS, "iperf3", "-c", dst.String(), "-p", "5301", "-t", "5", "--connect-timeout", "3000", "-J")...)
		if err == nil {
			if mbit, perr := iperfMbit(out); perr == nil && mbit > 0 {
				return mbit
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 %s→%s (%s): %v: %s", cli, srv, dst, err, out)
		}
		time.Sleep(200 * time.Millisecond) // the daemonized server is starting; bounded by the deadline
	}
}
