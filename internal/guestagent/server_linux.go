package guestagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is the guest side: it runs the commands the host asks for. Start starts a
// process and returns its exit code channel (the init's reaper: PID 1 owns wait4);
// Status returns what a "status" request prints (as JSON).
type Server struct {
	Port   io.ReadWriter
	Start  func(*exec.Cmd) (int, <-chan int, error)
	Status func() any
	// Env is every command's base environment.
	Env  []string
	Node string
	Log  *slog.Logger

	wmu     sync.Mutex
	mu      sync.Mutex
	streams map[uint32]*gstream
}

type gstream struct {
	stdin chan []byte // nil entry = EOF
	pid   int
}

// Serve greets the host and serves frames until ctx ends or the port fails.
func (s *Server) Serve(ctx context.Context) error {
	s.streams = map[uint32]*gstream{}
	if err := s.write(jsonFrame(0, THello, Hello{Version: 1, Node: s.Node})); err != nil {
		return fmt.Errorf("guest agent: hello: %w", err)
	}
	for ctx.Err() == nil {
		f, err := ReadFrame(s.Port)
		if err != nil {
			return fmt.Errorf("guest agent: read: %w", err)
		}
		s.handle(f)
	}
	return ctx.Err()
}

func (s *Server) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.Port.Write(b)
	return err
}

func (s *Server) exit(stream uint32, code int, msg string) {
	s.mu.Lock()
	delete(s.streams, stream)
	s.mu.Unlock()
	s.write(jsonFrame(stream, TExit, Exit{Code: code, Error: msg}))
}

func (s *Server) handle(f Frame) {
	s.mu.Lock()
	st := s.streams[f.Stream]
	s.mu.Unlock()
	switch f.Type {
	case TOpen:
		if st != nil {
			return // duplicate open: ignore
		}
		var req Request
		if err := json.Unmarshal(f.Payload, &req); err != nil {
			s.exit(f.Stream, 255, "bad request: "+err.Error())
			return
		}
		if err := req.Validate(); err != nil {
			s.exit(f.Stream, 255, err.Error())
			return
		}
		s.open(f.Stream, req)
	case TStdin, TEOF:
		if st != nil {
			var data []byte
			if f.Type == TStdin {
				data = f.Payload
			}
			st.stdin <- data
		}
	case TKill:
		if st != nil && st.pid > 1 {
			syscall.Kill(-st.pid, syscall.SIGKILL)
		}
	}
}

func (s *Server) open(id uint32, req Request) {
	if req.Op == "status" {
		b, _ := json.MarshalIndent(s.Status(), "", " ")
		s.write(dataFrames(id, TStdout, append(b, '\n')))
		s.exit(id, 0, "")
		return
	}
	st := &gstream{stdin: make(chan []byte, 64)}
	s.mu.Lock()
	s.streams[id] = st
	s.mu.Unlock()
	if err := s.run(id, st, req); err != nil {
		s.exit(id, 255, err.Error())
	}
}

// run starts the command with pipes and pumps them until it exits.
func (s *Server) run(id uint32, st *gstream, req Request) error {
	cmd := exec.Command(resolve(req.Argv[0]), req.Argv[1:]...)
	cmd.Env = append(append([]string{}, s.Env...), req.Env...)
	cmd.Dir = req.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	inR, inW, err := os.Pipe()
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	pid, exit, err := s.Start(cmd)
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return fmt.Errorf("start %s: %w", req.Argv[0], err)
	}
	st.pid = pid
	go pumpStdin(st.stdin, inW)
	var wg sync.WaitGroup
	for _, p := range []struct {
		r   *os.File
		typ byte
	}{{outR, TStdout}, {errR, TStderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.r.Close()
			buf := make([]byte, MaxPayload)
			for {
				n, err := p.r.Read(buf)
				if n > 0 {
					s.write(AppendFrame(nil, id, p.typ, buf[:n]))
				}
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		code := <-exit
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select { // a daemon the command left behind may hold the pipes open
		case <-done:
		case <-time.After(2 * time.Second):
		}
		st.stdin <- nil
		s.exit(id, code, "")
	}()
	return nil
}

func pumpStdin(ch chan []byte, w *os.File) {
	defer w.Close()
	for data := range ch {
		if data == nil {
			return
		}
		if _, err := w.Write(data); err != nil {
			for d := range ch { // drain until EOF so the reader never blocks
				if d == nil {
					return
				}
			}
		}
	}
}

// resolve finds a program: as given when it exists, else its base name on the guest's
// PATH (so that host paths of zosnet binaries, /root/zosnet/bin/zosnet, work in a VM).
func resolve(p string) string {
	if _, err := os.Stat(p); err == nil || !strings.Contains(p, "/") {
		return p
	}
	for _, d := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin"} {
		c := filepath.Join(d, filepath.Base(p))
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	return p
}

// OpenPort finds and opens the agent's virtio-serial port (/dev/vportNpM whose name is
// PortName). It returns os.ErrNotExist when the machine has none.
func OpenPort() (io.ReadWriteCloser, error) {
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != PortName {
			continue
		}
		dev := "/dev/" + filepath.Base(filepath.Dir(n))
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		return &retryReader{f}, nil
	}
	return nil, os.ErrNotExist
}

// retryReader turns the EOFs a virtio-serial port returns while the host side is not
// connected into waiting.
type retryReader struct{ *os.File }

func (r *retryReader) Read(p []byte) (int, error) {
	for {
		n, err := r.File.Read(p)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
