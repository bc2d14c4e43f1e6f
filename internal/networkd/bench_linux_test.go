package networkd_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// rssKB is the process's resident memory after a GC that returns free memory to the OS.
func rssKB(b *testing.B) int {
	runtime.GC()
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkNRCreate100 creates 100 NRs (one peer each) through the API of one node and
// reports the create latency (median, p99), the time for all 100 and RSS per NR.
// Run with -benchtime=1x.
func BenchmarkNRCreate100(b *testing.B) {
	testkit.RequireRoot(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n := benchNode(b)
		n.start(b)
		k, _ := wgtypes.GeneratePrivateKey()
		rss0 := rssKB(b)
		lat := make([]time.Duration, 0, 100)
		b.StartTimer()
		start := time.Now()
		for j := 0; j < 100; j++ {
			s := spec(fmt.Sprintf("n%d", j), "10.1.1.0/24", nodeapi.Peer{PublicKey: k.PublicKey().String(),
				Endpoint: "10.99.0.2:5000", AllowedIPs: []netip.Prefix{pfx("10.1.2.0/24")}})
			t0 := time.Now()
			if _, err := n.cl.PutNR(bg, s); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		total := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(pct(lat, 0.5).Microseconds())/1000, "ms-create-p50")
		b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "ms-create-p99")
		b.ReportMetric(total.Seconds(), "s-100NRs")
		b.ReportMetric(float64(rssKB(b)-rss0)/100, "KB-RSS/NR")
		n.stop(b)
		b.StartTimer()
	}
}

// BenchmarkRestart50 measures a restart with 50 NRs: until the API answers (the first
// reconcile has re-created every device).
func BenchmarkRestart50(b *testing.B) {
	testkit.RequireRoot(b)
	n := benchNode(b)
	n.start(b)
	k, _ := wgtypes.GeneratePrivateKey()
	for j := 0; j < 50; j++ {
		s := spec(fmt.Sprintf("n%d", j), "10.1.1.0/24", nodeapi.Peer{PublicKey: k.PublicKey().String(),
			Endpoint: "10.99.0.2:5000", AllowedIPs: []netip.Prefix{pfx("10.1.2.0/24")}})
		if _, err := n.cl.PutNR(bg, s); err != nil {
			b.Fatal(err)
		}
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n.stop(b)
		b.StartTimer()
		t0 := time.Now()
		n.start(b)
		total += time.Since(t0)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-restart50")
}

func benchNode(b *testing.B) *node {
	n := &node{host: testkit.NewNS(b), dir: b.TempDir(), resync: time.Minute}
	os.Chmod(n.dir, 0o755)
	n.cl = newClient(n)
	b.Cleanup(func() { n.stop(b); cleanupAll(b, n); unmountDir(n) })
	return n
}

// BenchmarkThroughput measures TCP throughput (iperf3, one stream, 3 s): workload→
// workload through two networkd nodes, a bare wireguard-go tunnel between two
// namespaces, and a bare veth. The three are built once and measured in 5 interleaved
// rounds (so a busy machine hits them alike); it reports medians and their ratios.
func BenchmarkThroughput(b *testing.B) {
	testkit.RequireRoot(b)
	for i := 0; i < b.N; i++ {
		reportRounds(b, map[string]func() float64{"veth": bareVeth(b), "bare-wg": bareWG(b), "nr": throughNR(b)}, "nr")
	}
}

// reportRounds runs every measurement 5 times, interleaved, and reports the medians,
// the ratios of subject's median to the others' (ratio-) and the medians of the
// per-round ratios (pratio-).
func reportRounds(b *testing.B, runs map[string]func() float64, subject string) {
	names := make([]string, 0, len(runs))
	for n := range runs {
		names = append(names, n)
	}
	slices.Sort(names)
	got := map[string][]float64{}
	for r := 0; r < 5; r++ {
		for _, n := range names {
			got[n] = append(got[n], runs[n]())
		}
	}
	med := map[string]float64{}
	for _, n := range names {
		v := slices.Clone(got[n])
		slices.Sort(v)
		med[n] = v[len(v)/2]
		b.ReportMetric(med[n], "Gbit/s-"+n)
		b.Logf("%s: %v Gbit/s", n, got[n])
	}
	for _, n := range names {
		if n != subject {
			b.ReportMetric(med[subject]/med[n], "ratio-"+subject+"/"+n)
		}
	}
	for _, n := range names {
		if n != subject {
			b.ReportMetric(pairedRatio(got[subject], got[n]), "pratio-"+subject+"/"+n)
		}
	}
}

// pairedRatio is the median of the per-round ratios x[i]/y[i]: measurements of one
// round ran back to back, so a load change on the machine between rounds cancels out.
func pairedRatio(x, y []float64) float64 {
	r := make([]float64, len(x))
	for i := range x {
		r[i] = x[i] / y[i]
	}
	slices.Sort(r)
	return r[len(r)/2]
}

func throughNR(b *testing.B) func() float64 {
	a, c := benchNode(b), benchNode(b)
	wireB(b, a.host, c.host, 1500)
	a.start(b)
	c.start(b)
	meshPair(b, a, c, "net1")
	wa, wc := addWL(b, a, "net1", "wa"), addWL(b, c, "net1", "wc")
	pollPing(b, filepath.Join(c.netnsDir(), wc.Netns), wa.IPv4.Addr(), 10*time.Second)
	return func() float64 {
		return iperf(b, filepath.Join(a.netnsDir(), wa.Netns), filepath.Join(c.netnsDir(), wc.Netns), wc.IPv4.Addr())
	}
}

func bareVeth(b *testing.B) func() float64 {
	x, y := testkit.NewNS(b), testkit.NewNS(b)
	wireB(b, x, y, 1500)
	return func() float64 { return iperf(b, x.Path(), y.Path(), netip.MustParseAddr("10.99.0.2")) }
}

// bareWG is two namespaces joined by a veth with a wireguard-go tunnel on top, MTU 1420.
func bareWG(b *testing.B) func() float64 {
	x, y := testkit.NewNS(b), testkit.NewNS(b)
	wireB(b, x, y, 1500)
	return wgPair(b, x, y, netip.MustParseAddr("10.99.0.2"))
}

// wgPair puts a bare wireguard-go tunnel, both ends in this process, on top of
// whatever joins x and y, where y's underlay address is yAddr; it returns a
// measurement x→y through the tunnel.
func wgPair(b *testing.B, x, y *netns.NS, yAddr netip.Addr) func() float64 {
	ex, ey := bareEnds(yAddr)
	for _, e := range []struct {
		ns  *netns.NS
		end bareEnd
	}{{y, ey}, {x, ex}} {
		d, err := e.end.up(e.ns)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
	}
	pollPing(b, x.Path(), netip.MustParseAddr("10.77.0.2"), 10*time.Second)
	return func() float64 { return iperf(b, x.Path(), y.Path(), netip.MustParseAddr("10.77.0.2")) }
}

// iperf runs an iperf3 server in srvNS and a 3 s client in cliNS; returns Gbit/s.
func iperf(b *testing.B, cliNS, srvNS string, dst netip.Addr) float64 {
	for _, p := range []string{cliNS, srvNS} {
		ns, err := netns.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		ns.Do(func() error { testkit.RefuseInit(b); return nil })
		ns.Close()
	}
	srv := exec.Command("nsenter", "--net="+srvNS, "iperf3", "-s", "-1", "-p", "5201")
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("nsenter", "--net="+cliNS, "iperf3", "-c", dst.String(), "-p", "5201", "-t", "3", "-J").Output()
		if g := gbits(out); err == nil && g > 0 {
			return g
		}
		if time.Now().After(deadline) {
			b.Fatalf("iperf3 to %s: %v: %s", dst, err, out)
		}
		time.Sleep(50 * time.Millisecond) // the server is starting; bounded by the deadline
	}
}

// gbits reads the received throughput from iperf3's JSON report; 0 when the report
// has none (iperf3 may exit 0 with only an "error" field, e.g. server not ready yet).
func gbits(out []byte) float64 {
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if json.Unmarshal(out, &r) != nil {
		return 0
	}
	return r.End.SumReceived.BitsPerSecond / 1e9
}

// BenchmarkBufferThroughput measures what the patched wireguard-go's memory changes
// cost in throughput: three bare wireguard-go tunnels, upstream ("heap": message
// buffers on the Go heap, GRO tables preallocated), with the per-device buffer slab
// ("slab"), and with the slab and change 3 ("lazy", as shipped: GRO tables allocated
// on first use, buffers sliced without touching them),
// measured in 5 interleaved rounds (iperf3, one stream, 3 s); it reports medians and
// the ratios of "lazy" to the others.
func BenchmarkBufferThroughput(b *testing.B) {
	testkit.RequireRoot(b)
	defer func() { device.HeapBuffers, tun.EagerGROTables, device.TouchBuffers = false, false, false }()
	for i := 0; i < b.N; i++ {
		device.HeapBuffers, tun.EagerGROTables, device.TouchBuffers = true, true, true
		heap := bareWG(b)
		device.HeapBuffers = false
		slab := bareWG(b)
		tun.EagerGROTables, device.TouchBuffers = false, false
		reportRounds(b, map[string]func() float64{"heap": heap, "slab": slab, "lazy": bareWG(b)}, "lazy")
	}
}
