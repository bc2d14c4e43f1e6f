package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// start is a Server.Start for tests (the init uses its reaper).
func start(cmd *exec.Cmd) (int, <-chan int, error) {
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	ch := make(chan int, 1)
	go func() {
		cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			ch <- 128 + int(ws.Signal())
			return
		}
		ch <- ws.ExitStatus()
	}()
	return cmd.Process.Pid, ch, nil
}

// rig is a guest server and a host router joined by an in-memory "serial port".
type rig struct {
	sock   string
	server *Server
	guest  net.Conn
	router *Router
}

func newRig(t *testing.T) *rig {
	t.Helper()
	host, guest := net.Pipe()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{sock: sock, guest: guest, router: &Router{Serial: host}}
	go r.router.Serve(l)
	r.startServer()
	t.Cleanup(func() { host.Close(); guest.Close() })
	return r
}

func (r *rig) startServer() {
	r.server = &Server{Port: r.guest, Start: start, Env: []string{"PATH=/usr/bin:/bin", "FROM=agent"},
		Status: func() any { return map[string]string{"node": "vm1"} }}
	go r.server.Serve(context.Background())
}

func (r *rig) waitHellos(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.router.Hellos() < n {
		if time.Now().After(deadline) {
			t.Fatalf("hellos %d, want %d", r.router.Hellos(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(t *testing.T, sock string, stdin string, argv ...string) (string, string, int, error) {
	t.Helper()
	var out, errb bytes.Buffer
	var in *strings.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	req := Request{Op: "exec", Argv: argv}
	var code int
	var err error
	if in != nil {
		code, err = Exec(context.Background(), sock, req, in, &out, &errb)
	} else {
		code, err = Exec(context.Background(), sock, req, nil, &out, &errb)
	}
	return out.String(), errb.String(), code, err
}

func TestExec(t *testing.T) {
	r := newRig(t)
	r.waitHellos(t, 1)
	for _, tc := range []struct {
		name, stdin         string
		argv                []string
		out, errOut, errMsg string
		code                int
	}{
		{"stdout and code 0", "", []string{"echo", "hello"}, "hello\n", "", "", 0},
		{"stderr and exit code", "", []string{"sh", "-c", "echo oops >&2; exit 7"}, "", "oops\n", "", 7},
		{"stdin reaches the command", "a\nb\n", []string{"wc", "-l"}, "2\n", "", "", 0},
		{"environment of the agent", "", []string{"sh", "-c", "echo $FROM"}, "agent\n", "", "", 0},
		{"killed by a signal", "", []string{"sh", "-c", "kill -9 $$"}, "", "", "", 137},
		{"host path resolved by base name", "", []string{"/nonexistent/dir/true"}, "", "", "", 0},
		{"missing program", "", []string{"no-such-program-x"}, "", "", "start no-such-program-x", 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code, err := run(t, r.sock, tc.stdin, tc.argv...)
			if tc.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) || !errors.Is(err, ErrChannel) {
					t.Fatalf("err %v, want %q", err, tc.errMsg)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(out) != strings.TrimSpace(tc.out) || errOut != tc.errOut || code != tc.code {
				t.Errorf("got out %q err %q code %d, want %q %q %d", out, errOut, code, tc.out, tc.errOut, tc.code)
			}
		})
	}
}

// TestConcurrentStreams: many commands at once through one serial link each get their
// own output and code; a large output arrives whole.
func TestConcurrentStreams(t *testing.T) {
	r := newRig(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, code, err := run(t, r.sock, "", "sh", "-c", fmt.Sprintf("head -c %d /dev/zero | tr '\\\\0' x; exit %d", 100000+i, i))
			if err != nil || code != i || len(out) != 100000+i {
				errs <- fmt.Errorf("stream %d: code %d len %d err %v", i, code, len(out), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStatus(t *testing.T) {
	r := newRig(t)
	var out bytes.Buffer
	code, err := Exec(context.Background(), r.sock, Request{Op: "status"}, nil, &out, os.Stderr)
	if err != nil || code != 0 || !strings.Contains(out.String(), `"node": "vm1"`) {
		t.Fatalf("status: %d %v %q", code, err, out.String())
	}
}

// TestRebootFailsOpenStreams: a new Hello (the guest rebooted) ends the streams that
// were open with an error instead of leaving the clients hanging.
func TestRebootFailsOpenStreams(t *testing.T) {
	r := newRig(t)
	r.waitHellos(t, 1)
	done := make(chan error, 1)
	go func() {
		_, _, _, err := run(t, r.sock, "", "sleep", "30")
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); r.router.Open() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("stream never opened")
		}
	}
	r.server.write(jsonFrame(0, THello, Hello{Version: 1}))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "rebooted") {
			t.Fatalf("err %v, want the reboot named", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the open stream did not end on a guest hello")
	}
}

// TestClientGoneKillsCommand: cancelling the client kills the command in the guest.
func TestClientGoneKillsCommand(t *testing.T) {
	r := newRig(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Exec(ctx, r.sock, Request{Op: "exec", Argv: []string{"sh", "-c", "echo $$ > " + pidFile + "; exec sleep 30"}}, nil, &bytes.Buffer{}, &bytes.Buffer{})
		close(done)
	}()
	var pid string
	deadline := time.Now().Add(10 * time.Second)
	for pid == "" {
		b, _ := os.ReadFile(pidFile)
		pid = strings.TrimSpace(string(b))
		if time.Now().After(deadline) {
			t.Fatal("command never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	for {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			return // gone (or a zombie the test's Wait reaps)
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %s still running after its client went away", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRequestValidate(t *testing.T) {
	for _, tc := range []struct {
		r   Request
		err string
	}{
		{Request{Op: "exec", Argv: []string{"ls"}}, ""},
		{Request{Op: "status"}, ""},
		{Request{Op: "exec"}, "exec: empty argv"},
		{Request{Op: "exec", Argv: []string{""}}, "exec: empty argv"},
		{Request{Op: "reboot"}, `unknown op "reboot"`},
	} {
		err := tc.r.Validate()
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: err %v, want %q", tc.r, err, tc.err)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, 1, TStdout, []byte("hi")))
	f.Add([]byte{0, 0, 0, 1, 9, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(fr.Payload) > MaxPayload || fr.Type == 0 || fr.Type > TKill {
			t.Fatalf("accepted %+v", fr)
		}
		again, err := ReadFrame(bytes.NewReader(AppendFrame(nil, fr.Stream, fr.Type, fr.Payload)))
		if err != nil || again.Stream != fr.Stream || !bytes.Equal(again.Payload, fr.Payload) {
			t.Fatalf("round trip: %+v %v", again, err)
		}
	})
}
