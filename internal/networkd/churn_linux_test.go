package networkd_test

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/nodeapi"
	"github.com/zosnet/zosnet/internal/testkit"
)

// memSample is networkd's memory at one moment: the process's RSS and its Go heap.
type memSample struct {
	rssKB, anonKB, fileKB, heapInuseKB, heapSysKB int
	heapKeptKB, stackKB, runtimeKB                int // idle heap not returned, stacks, runtime metadata
	goroutines, fds, nrs                          int
}

func (s memSample) String() string {
	mb := func(kb int) float64 { return float64(kb) / 1024 }
	return fmt.Sprintf("RSS %5.1f MB (anon %5.1f, file %4.1f), heap in use %5.1f MB (of %5.1f MB from the OS; idle, not returned %4.1f), stacks %4.1f, runtime %4.1f, %d goroutines, %d fds, %d NRs",
		mb(s.rssKB), mb(s.anonKB), mb(s.fileKB), mb(s.heapInuseKB), mb(s.heapSysKB), mb(s.heapKeptKB),
		mb(s.stackKB), mb(s.runtimeKB), s.goroutines, s.fds, s.nrs)
}

// sample reads the networkd process's RSS (/proc) and Go heap (its /metrics).
func sample(b *testing.B, n *node) memSample {
	b.Helper()
	var s memSample
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.proc.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.rssKB, _ = strconv.Atoi(f[1])
		case "RssAnon:":
			s.anonKB, _ = strconv.Atoi(f[1])
		case "RssFile:":
			s.fileKB, _ = strconv.Atoi(f[1])
		}
	}
	metric := func(text, name string) int {
		for _, l := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return int(f)
			}
		}
		b.Fatalf("no %s in networkd's metrics", name)
		return 0
	}
	m := string(rawGet(b, n, "/metrics"))
	s.heapInuseKB = metric(m, "go_memstats_heap_inuse_bytes") / 1024
	s.heapSysKB = metric(m, "go_memstats_heap_sys_bytes") / 1024
	s.heapKeptKB = (metric(m, "go_memstats_heap_idle_bytes") - metric(m, "go_memstats_heap_released_bytes")) / 1024
	s.stackKB = metric(m, "go_memstats_stack_inuse_bytes") / 1024
	s.runtimeKB = (metric(m, "go_memstats_mspan_inuse_bytes") + metric(m, "go_memstats_mcache_inuse_bytes") +
		metric(m, "go_memstats_gc_sys_bytes") + metric(m, "go_memstats_other_sys_bytes") + metric(m, "go_memstats_buck_hash_sys_bytes")) / 1024
	s.goroutines = metric(m, "go_goroutines")
	s.fds = metric(m, "process_open_fds")
	nrs, err := n.cl.ListNRs(bg)
	if err != nil {
		b.Fatal(err)
	}
	s.nrs = len(nrs)
	return s
}

// churnNR is a network resource with peers peer keys (endpoints nowhere: the devices
// are real, their handshakes go unanswered).
func churnNR(id string, subnet int, peers []wgtypes.Key) nodeapi.NRSpec {
	s := spec(id, fmt.Sprintf("10.1.%d.0/24", subnet))
	for i, k := range peers {
		s.Peers = append(s.Peers, nodeapi.Peer{PublicKey: k.PublicKey().String(), Endpoint: fmt.Sprintf("10.99.0.%d:5000", 2+i),
			AllowedIPs: []netip.Prefix{pfx(fmt.Sprintf("10.1.%d.0/24", 200+i))}})
	}
	return s
}

// BenchmarkChurnMemory runs networkd (a separate process, userspace WireGuard) through a
// bounded churn: 2 stable NRs (a workload each), and for $ZOSNET_CHURN (default 2m)
// NRs created with 1-5 peers, grown, shrunk, given a workload and deleted, 8 at a
// time. It prints RSS and Go heap at start, peak and end (after 30 s of quiet), then
// kills networkd and starts a fresh one on the same state (the same NRs) and compares.
// Fair comparison: both daemons carry the same traffic on the stable NRs (a burst of
// datagrams from each workload into its NR's tunnel, once on the churned daemon
// before the churn, once on the fresh one), so neither looks bigger for buffers
// filled by traffic. It also reports the idle daemon's RSS and the RSS per NR (20 NRs
// created on the fresh daemon). Each b.N round runs networkd once per variant in
// $ZOSNET_CHURN_VARIANTS (default "slab,lazy"), interleaved: "heap" is upstream
// wireguard-go (message buffers on the Go heap, GRO tables preallocated), "slab" has
// the per-device buffer slab (third_party change 2), "lazy" also change 3 (GRO
// tables allocated on first use, buffers sliced without touching them: networkd as
// shipped); it reports the medians. With
// $ZOSNET_CHURN_PROFILES=DIR it saves heap profiles (start, end, fresh) there.
func BenchmarkChurnMemory(b *testing.B) {
	testkit.RequireRoot(b)
	dur := 2 * time.Minute
	if v := os.Getenv("ZOSNET_CHURN"); v != "" {
		var err error
		if dur, err = time.ParseDuration(v); err != nil {
			b.Fatalf("ZOSNET_CHURN=%q: %v", v, err)
		}
	}
	keys := make([]wgtypes.Key, 5)
	for i := range keys {
		keys[i], _ = wgtypes.GeneratePrivateKey()
	}
	variants := strings.Split(cmp.Or(os.Getenv("ZOSNET_CHURN_VARIANTS"), "slab,lazy"), ",")
	for _, v := range variants {
		if _, ok := churnVariants[v]; !ok {
			b.Fatalf("ZOSNET_CHURN_VARIANTS: unknown variant %q (heap, slab, lazy)", v)
		}
	}
	got := map[string]map[string][]float64{}
	for i := 0; i < b.N; i++ {
		for _, variant := range variants {
			for unit, v := range churnRound(b, variant, dur, keys) {
				if got[variant] == nil {
					got[variant] = map[string][]float64{}
				}
				got[variant][unit] = append(got[variant][unit], v)
			}
		}
	}
	for _, variant := range variants {
		for unit, v := range got[variant] {
			b.Logf("%s %s: %.2f", variant, unit, v)
			b.ReportMetric(median(v), unit+"-"+variant)
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// churnVariants are the wireguard-go variants BenchmarkChurnMemory compares: the
// test networkd's environment for each (main_linux_test.go reads it).
var churnVariants = map[string]map[string]string{
	"heap": {"ZOSNET_TEST_WG_HEAP_BUFFERS": "1", "ZOSNET_TEST_WG_EAGER_GRO": "1", "ZOSNET_TEST_WG_TOUCH_BUFFERS": "1"},
	"slab": {"ZOSNET_TEST_WG_HEAP_BUFFERS": "", "ZOSNET_TEST_WG_EAGER_GRO": "1", "ZOSNET_TEST_WG_TOUCH_BUFFERS": "1"},
	"lazy": {"ZOSNET_TEST_WG_HEAP_BUFFERS": "", "ZOSNET_TEST_WG_EAGER_GRO": "", "ZOSNET_TEST_WG_TOUCH_BUFFERS": ""},
}

// churnRound is one churn on a new node with networkd's wireguard-go as in variant;
// it returns its figures by unit.
func churnRound(b *testing.B, variant string, dur time.Duration, keys []wgtypes.Key) map[string]float64 {
	profiles := os.Getenv("ZOSNET_CHURN_PROFILES")
	if profiles != "" {
		profiles = filepath.Join(profiles, variant)
		os.MkdirAll(profiles, 0o755)
	}
	for k, v := range churnVariants[variant] {
		b.Setenv(k, v)
	}
	n := benchNode(b)
	b.Setenv("ZOSNET_TEST_RESYNC_EVERY", "30s") // networkd's default, not the tests' 200 ms
	n.startProc(b)
	defer n.kill(b)
	idle := settle(b, n, 5*time.Second)
	var wls []string
	for j := 0; j < 2; j++ {
		id := fmt.Sprintf("s%d", j)
		if _, err := n.cl.PutNR(bg, churnNR(id, j, keys[:3])); err != nil {
			b.Fatal(err)
		}
		wls = append(wls, filepath.Join(n.netnsDir(), addWL(b, n, id, "w"+id).Netns))
	}
	burst(b, wls)
	start := settle(b, n, 5*time.Second)
	saveHeap(b, n, profiles, "start")
	peak, ops := start, 0
	next, nextLog := time.Now(), time.Now().Add(time.Minute)
	for t0 := time.Now(); time.Since(t0) < dur; ops++ {
		churnStep(b, n, ops, keys)
		if time.Now().After(next) {
			s := sample(b, n)
			if s.rssKB > peak.rssKB {
				peak = s
			}
			if time.Now().After(nextLog) { // flat over time, or growing?
				b.Logf("%s: after %3.0fs: %v (%d operations)", variant, time.Since(t0).Seconds(), s, ops)
				nextLog = nextLog.Add(time.Minute)
			}
			next = time.Now().Add(time.Second)
		}
	}
	end := settle(b, n, 30*time.Second)
	saveHeap(b, n, profiles, "end")
	n.kill(b)
	n.startProc(b)
	time.Sleep(5 * time.Second) // as before the churn: the daemon settles, then the burst
	burst(b, wls)
	fresh := settle(b, n, 5*time.Second)
	saveHeap(b, n, profiles, "fresh")
	for j := 0; j < 20; j++ {
		if _, err := n.cl.PutNR(bg, churnNR(fmt.Sprintf("p%d", j), 100+j, keys[:3])); err != nil {
			b.Fatal(err)
		}
	}
	with20 := settle(b, n, 10*time.Second)
	b.Logf("%s: %d operations in %v", variant, ops, dur)
	b.Logf("%s: idle daemon: %v", variant, idle)
	b.Logf("%s: start:       %v", variant, start)
	b.Logf("%s: peak:        %v", variant, peak)
	b.Logf("%s: end:         %v", variant, end)
	b.Logf("%s: fresh:       %v", variant, fresh)
	b.Logf("%s: fresh+20NRs: %v", variant, with20)
	for j := 0; j < 20; j++ {
		if err := n.cl.DeleteNR(bg, fmt.Sprintf("p%d", j)); err != nil {
			b.Fatal(err)
		}
	}
	return map[string]float64{
		"MB-RSS-idle":   float64(idle.rssKB) / 1024,
		"MB-RSS-start":  float64(start.rssKB) / 1024,
		"MB-RSS-peak":   float64(peak.rssKB) / 1024,
		"MB-RSS-end":    float64(end.rssKB) / 1024,
		"MB-anon-end":   float64(end.anonKB) / 1024,
		"MB-anon-fresh": float64(fresh.anonKB) / 1024,
		"MB-file-end":   float64(end.fileKB) / 1024,
		"MB-file-fresh": float64(fresh.fileKB) / 1024,
		"MB-heap-fresh": float64(fresh.heapInuseKB) / 1024,
		"MB-kept-end":   float64(end.heapKeptKB) / 1024,
		"MB-kept-fresh": float64(fresh.heapKeptKB) / 1024,
		"MB-RSS-fresh":  float64(fresh.rssKB) / 1024,
		"MB-heap-end":   float64(end.heapInuseKB) / 1024,
		"end/fresh":     float64(end.rssKB) / float64(fresh.rssKB),
		"MB-RSS/NR":     float64(with20.rssKB-fresh.rssKB) / 20 / 1024,
		"NRs-end":       float64(end.nrs),
	}
}

// burst sends the same traffic from each workload into its NR's tunnel: 2,000
// datagrams of 1,200 bytes to a peer's allowed IPs (the peer never answers, so the
// packets are read from the TUN, staged for a handshake and dropped).
func burst(b *testing.B, wls []string) {
	b.Helper()
	for _, p := range wls {
		ns, err := netns.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		err = ns.Do(func() error {
			c, err := net.Dial("udp", "10.1.200.1:9")
			if err != nil {
				return err
			}
			defer c.Close()
			payload := make([]byte, 1200)
			for k := 0; k < 2000; k++ {
				c.Write(payload) // ENOBUFS/ECONNREFUSED on a full queue: the pattern is the same for both
			}
			return nil
		})
		ns.Close()
		if err != nil {
			b.Fatalf("burst from %s: %v", p, err)
		}
	}
}

// churnStep is one operation on one of 8 churning NRs: create (with a workload), grow,
// shrink, delete, in turn.
func churnStep(b *testing.B, n *node, op int, keys []wgtypes.Key) {
	id := fmt.Sprintf("c%d", op%8)
	var err error
	switch (op / 8) % 4 {
	case 0:
		if _, err = n.cl.PutNR(bg, churnNR(id, 10+op%8, keys[:1])); err == nil {
			_, err = n.cl.AddWorkload(bg, nodeapi.WorkloadSpec{Name: "w" + id, NetworkID: id})
		}
	case 1:
		_, err = n.cl.PutNR(bg, churnNR(id, 10+op%8, keys))
	case 2:
		_, err = n.cl.PutNR(bg, churnNR(id, 10+op%8, keys[:2]))
	case 3:
		err = n.cl.DeleteNR(bg, id)
	}
	if err != nil {
		b.Fatalf("churn op %d on %s: %v", op, id, err)
	}
}

// settle waits d (the Go runtime returns freed memory to the OS over time) and samples.
func settle(b *testing.B, n *node, d time.Duration) memSample {
	time.Sleep(d) // the scenario: a quiet period, measured after it
	return sample(b, n)
}

func saveHeap(b *testing.B, n *node, dir, name string) {
	if dir == "" {
		return
	}
	p := filepath.Join(dir, "networkd-heap-"+name+".pb.gz")
	if err := os.WriteFile(p, rawGet(b, n, "/debug/pprof/heap?gc=1"), 0o644); err != nil {
		b.Fatal(err)
	}
	g := filepath.Join(dir, "networkd-goroutines-"+name+".txt")
	if err := os.WriteFile(g, rawGet(b, n, "/debug/pprof/goroutine?debug=1"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("heap profile %s: go tool pprof -sample_index=inuse_space %s; goroutines in %s", name, p, g)
}
