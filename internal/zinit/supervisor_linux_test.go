package zinit

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSupervisor: services start in order (a one-shot that fails is retried and the next
// waits for its success; the next waits for a long-running service's ready file), a
// long-running service that exits is restarted, every output line reaches the console
// (prefixed) and <service>.log, and stopping ends the services in reverse order.
func TestSupervisor(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	ready := filepath.Join(dir, "ready")
	logDir := filepath.Join(dir, "log")
	one := script(t, dir, "one", `echo "one run" >> `+events+`
if [ ! -e `+dir+`/one.ok ]; then touch `+dir+`/one.ok; echo "one: not yet" >&2; exit 1; fi
echo "one: done"`)
	two := script(t, dir, "two", `echo "two run" >> `+events+`
if [ ! -e `+dir+`/two.ran ]; then touch `+dir+`/two.ran; echo "two: crashing"; exit 3; fi
trap 'echo "two term" >> `+events+`; exit 0' TERM
touch `+ready+`
while :; do sleep 0.1; done`)
	three := script(t, dir, "three", `trap 'echo "three term" >> `+events+`; exit 0' TERM
echo "three run" >> `+events+`
while :; do sleep 0.1; done`)
	con := &syncBuf{}
	r := NewReaper()
	stop := make(chan struct{})
	defer close(stop)
	go r.Run(stop)
	s := &Supervisor{
		Services: []Service{{Name: "one", Argv: []string{one}, OneShot: true},
			{Name: "two", Argv: []string{two}, ReadyFile: ready}, {Name: "three", Argv: []string{three}}},
		LogDir: logDir, Console: NewConsole(con), Reaper: r, Log: slog.New(slog.NewTextHandler(con, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, "three running", func() bool { return s.Status()[2].State == StateRunning })
	// Running means started; the script has its TERM trap once it logged its run.
	waitFor(t, "three's trap", func() bool {
		ev, _ := os.ReadFile(events)
		return strings.Contains(string(ev), "three run")
	})
	st := s.Status()
	if st[0].State != StateDone || st[0].Starts != 2 || *st[0].LastExit != 0 {
		t.Errorf("one: %+v, want done after 2 starts", st[0])
	}
	if st[1].State != StateRunning || st[1].Starts != 2 || *st[1].LastExit != 3 {
		t.Errorf("two: %+v, want running, restarted once after exit 3", st[1])
	}
	cancel()
	<-done
	ev, _ := os.ReadFile(events)
	want := "one run\none run\ntwo run\ntwo run\nthree run\nthree term\ntwo term\n"
	if string(ev) != want {
		t.Errorf("events:\n%s\nwant:\n%s", ev, want)
	}
	for _, st := range s.Status()[1:] {
		if st.State != StateStopped {
			t.Errorf("%s: %s after stop", st.Name, st.State)
		}
	}
	log1, _ := os.ReadFile(filepath.Join(logDir, "one.log"))
	if string(log1) != "one: not yet\none: done\n" {
		t.Errorf("one.log %q", log1)
	}
	waitFor(t, "console lines", func() bool { return strings.Contains(con.String(), "[two] two: crashing") })
	if !strings.Contains(con.String(), "[one] one: not yet") {
		t.Errorf("console lacks prefixed lines:\n%s", con.String())
	}
}

// TestReaperExitCodes: exit codes (128+signal when killed) of started processes
// arrive, also when the process exits at once.
func TestReaperExitCodes(t *testing.T) {
	r := NewReaper()
	stop := make(chan struct{})
	defer close(stop)
	go r.Run(stop)
	for _, tc := range []struct {
		argv []string
		code int
	}{{[]string{"true"}, 0}, {[]string{"sh", "-c", "exit 5"}, 5}, {[]string{"sh", "-c", "kill -TERM $$"}, 128 + 15}} {
		_, ch, err := r.Start(exec.Command(tc.argv[0], tc.argv[1:]...))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-ch:
			if code != tc.code {
				t.Errorf("%v: code %d, want %d", tc.argv, code, tc.code)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%v: no exit", tc.argv)
		}
	}
}

// TestStateDiskFormat: a blank disk is recognized, formatted ext4 with the state label
// (checked by e2fsck), then recognized by its label and no longer blank.
func TestStateDiskFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 64<<20); err != nil {
		t.Fatal(err)
	}
	label, blank, err := probe(p)
	if err != nil || !blank || label != "" {
		t.Fatalf("fresh disk: label %q blank %v err %v", label, blank, err)
	}
	if err := formatState(p); err != nil {
		t.Fatal(err)
	}
	label, blank, err = probe(p)
	if err != nil || blank || label != StateLabel {
		t.Fatalf("formatted disk: label %q blank %v err %v", label, blank, err)
	}
	if out, err := exec.Command("e2fsck", "-fn", p).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck: %v\n%s", err, out)
	}
}

func TestImportFwCfg(t *testing.T) {
	src, state := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "registry-ca.crt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "registry-ca.crt", "raw"), []byte("PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{"registry-ca.crt"}, nil} {
		got, err := ImportFwCfg(src, state)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("import %d: %v %v, want %v", i, got, err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(state, "registry-ca.crt")); string(b) != "PEM" {
		t.Errorf("imported %q", b)
	}
	if got, err := ImportFwCfg(filepath.Join(src, "none"), state); got != nil || err != nil {
		t.Errorf("no fw_cfg: %v %v", got, err)
	}
}
