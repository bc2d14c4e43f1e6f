package zinit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// maxLogSize is where a service log is rotated (to <name>.log.1).
const maxLogSize = 8 << 20

// Console writes lines to the console (and keeps nothing); safe for concurrent use.
type Console struct {
	mu sync.Mutex
	w  io.Writer
}

// NewConsole wraps the console writer.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Line writes one line with a prefix.
func (c *Console) Line(prefix, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "[%s] %s\n", prefix, line)
}

// Write makes Console an io.Writer for the init's own log lines.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Write(p)
}

// pipeLogs copies the lines of r to the console (prefixed with the service name) and to
// dir/<name>.log (rotated at maxLogSize) until r ends. The file is reopened per call,
// so a state directory mounted later is picked up by the next start.
func pipeLogs(r io.ReadCloser, name, dir string, con *Console) {
	defer r.Close()
	var f *os.File
	var size int64
	open := func() {
		if dir == "" {
			return
		}
		os.MkdirAll(dir, 0o755)
		p := filepath.Join(dir, name+".log")
		var err error
		if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			st, _ := f.Stat()
			size = st.Size()
		}
	}
	open()
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		con.Line(name, line)
		if f == nil {
			continue
		}
		n, _ := fmt.Fprintln(f, line)
		if size += int64(n); size > maxLogSize {
			f.Close()
			p := filepath.Join(dir, name+".log")
			os.Rename(p, p+".1")
			open()
		}
	}
}
