package lab

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		rss  int64
	}{
		{"Name:\tnetworkd\nUmask:\t0022\nVmRSS:\t   28160 kB\nThreads:\t9\n", "networkd", 28160 * 1024},
		{"Name:\tkworker/0:1\nState:\tI (idle)\n", "kworker/0:1", 0}, // kernel thread: no VmRSS
		{"Name:\tx\nVmRSS:\t12 MB\n", "x", 0},                        // unknown unit: not guessed
		{"", "", 0},
	} {
		name, rss := parseStatus([]byte(tc.in))
		if name != tc.name || rss != tc.rss {
			t.Errorf("parseStatus(%q) = %q, %d; want %q, %d", tc.in, name, rss, tc.name, tc.rss)
		}
	}
}

func TestParseStatTicks(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ticks   int64
		wantErr string
	}{
		{"862 (cat) R 857 857 18338 0 -1 4194304 98 0 0 0 7 3 0 0 20 0 1 0 536583", 10, ""},
		{"9 (a (b) c) S 1 9 9 0 -1 0 0 0 0 0 120 30 0 0 20 0 1 0 1", 150, ""}, // name with ") "
		{"9 (x) S 1 2", 0, "fields after the name"},
		{"9 x S", 0, "no command name"},
		{"9 (x) S 1 9 9 0 -1 0 0 0 0 0 a b", 0, "not numbers"},
	} {
		got, err := parseStatTicks([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseStatTicks(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.ticks {
			t.Errorf("parseStatTicks(%q) = %d, %v; want %d", tc.in, got, err, tc.ticks)
		}
	}
}

// TestUsageOf sums this process (alive, has a resident set) and skips a pid that does
// not exist.
func TestUsageOf(t *testing.T) {
	u := usageOf([]int{os.Getpid(), 1 << 30})
	if u.Procs != 1 || u.RSS <= 0 || len(u.Programs) != 1 {
		t.Fatalf("usage of self = %+v; want one process with RSS", u)
	}
	if s := u.String(); !strings.HasPrefix(s, "1 processes, RSS ") {
		t.Errorf("String() = %q", s)
	}
	if l, err := LoadAvg(); err != nil || l < 0 {
		t.Errorf("LoadAvg() = %v, %v", l, err)
	}
}
