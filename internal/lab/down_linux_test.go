package lab

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		name, line, state, start string
		ok                       bool
	}{
		{"plain", "4007 (networkd.test) S 1 4007 4007 0 -1 4194560 951 0 0 0 3 1 0 0 20 0 9 0 2463828 1234 56 18446744073709551615", "S", "2463828", true},
		{"comm with spaces and parentheses", "12 (a (b) c) D 1 12 12 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99 1 1 1", "D", "99", true},
		{"zombie", "13 (x) Z 1 13 13 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7 0 0", "Z", "7", true},
		{"no comm", "13 x Z 1", "", "", false},
		{"cut short", "13 (x) R 1 13", "", "", false},
	} {
		state, start, ok := parseStat(c.line)
		if state != c.state || start != c.start || ok != c.ok {
			t.Errorf("%s: got %q %q %v, want %q %q %v", c.name, state, start, ok, c.state, c.start, c.ok)
		}
	}
}

// TestGoneSince: a running process is not gone; the same PID with another start time
// (reused) is; a process that exited and was reaped is.
func TestGoneSince(t *testing.T) {
	st, ok := procStart(os.Getpid())
	if !ok {
		t.Fatal("no start time for this process")
	}
	if goneSince(os.Getpid(), st) {
		t.Error("this process reads as gone")
	}
	if !goneSince(os.Getpid(), st+"1") {
		t.Error("this process with another start time (a reused PID) reads as not gone")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	cst, _ := procStart(pid) // may be gone already: then "" and gone either way
	cmd.Wait()
	if !goneSince(pid, cst) {
		t.Errorf("process %d reads as not gone after it was reaped", pid)
	}
}
