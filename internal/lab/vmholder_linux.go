package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/zosnet/zosnet/internal/guestagent"
)

// envVM marks a VM's holder and qemu with the node's name (powerOffVM kills by it).
const envVM = "ZOSLAB_VM"

// vmHolderConfig is what a VM holder runs (vm.json in the node directory).
type vmHolderConfig struct {
	Node string   `json:"node"`
	Qemu string   `json:"qemu"`
	Args []string `json:"args"` // taps are fds 3.. in qemu
	Taps int      `json:"taps"`
	// QemuAgent is qemu's listening end of the agent port; Listen is where the holder
	// serves guest agent clients.
	QemuAgent string `json:"qemu_agent"`
	Listen    string `json:"listen"`
}

// startVMHolder starts the holder of a VM with its taps and waits until it serves the
// guest agent socket (qemu runs by then). The holder outlives the caller.
func startVMHolder(lab, dir string, cfg vmHolderConfig, taps []*os.File) (int, error) {
	exe, err := selfExe()
	if err != nil {
		return 0, err
	}
	cf := filepath.Join(dir, "vm.json")
	b, _ := json.MarshalIndent(cfg, "", " ")
	if err := os.WriteFile(cf, b, 0o644); err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	logf, err := os.OpenFile(filepath.Join(dir, "holder.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.Close()
		return 0, fmt.Errorf("holder log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, "zoslab-vm", cf)
	cmd.Env = append(cleanEnv(), envReexec+"=vm", envLab+"="+lab, envVM+"="+cfg.Node)
	cmd.ExtraFiles = append([]*os.File{w}, taps...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("start vm holder: %w", err)
	}
	go cmd.Wait()
	if err := readReady(r, cfg.Node); err != nil {
		cmd.Process.Kill()
		return 0, fmt.Errorf("%w (see %s)", err, filepath.Join(dir, "holder.log"))
	}
	return cmd.Process.Pid, nil
}

// runVMHolder is the VM holder: it runs qemu (taps on fds 4.., passed on as 3..), joins
// qemu's agent port and serves it to clients on cfg.Listen until qemu exits.
func runVMHolder(args []string) error {
	ready := os.NewFile(3, "ready")
	fail := func(err error) error {
		fmt.Fprintf(ready, "error: %v\n", err)
		return err
	}
	if len(args) != 2 || args[0] != "zoslab-vm" {
		return fail(errors.New("usage: zoslab-vm CONFIG"))
	}
	b, err := os.ReadFile(args[1])
	if err != nil {
		return fail(err)
	}
	var cfg vmHolderConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fail(fmt.Errorf("%s: %w", args[1], err))
	}
	var taps []*os.File
	for i := range cfg.Taps {
		taps = append(taps, os.NewFile(uintptr(4+i), fmt.Sprintf("tap%d", i)))
	}
	q := exec.Command(cfg.Qemu, cfg.Args...)
	q.ExtraFiles = taps
	q.Stdout, q.Stderr = os.Stderr, os.Stderr
	q.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(os.Stderr, "zoslab vm %s: %s %q\n", cfg.Node, cfg.Qemu, cfg.Args)
	if err := q.Start(); err != nil {
		return fail(fmt.Errorf("start qemu: %w", err))
	}
	for _, t := range taps {
		t.Close()
	}
	exited := make(chan error, 1)
	go func() { exited <- q.Wait() }()
	serial, err := dialRetry(cfg.QemuAgent, exited)
	if err != nil {
		q.Process.Kill()
		return fail(err)
	}
	os.Remove(cfg.Listen)
	l, err := net.Listen("unix", cfg.Listen)
	if err != nil {
		q.Process.Kill()
		return fail(err)
	}
	router := &guestagent.Router{Serial: serial}
	go router.Serve(l)
	fmt.Fprintln(ready, "ok")
	ready.Close()
	err = <-exited
	fmt.Fprintf(os.Stderr, "zoslab vm %s: qemu exited: %v\n", cfg.Node, err)
	return err
}

// dialRetry connects to qemu's agent socket once qemu created it.
func dialRetry(path string, exited <-chan error) (net.Conn, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			return c, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("qemu exited at start: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("qemu's agent socket %s: %w", path, err)
		}
	}
}

// runVMExec is `Lab.Command` for a VM: argv[0] is the agent socket, the rest the
// command; it exits with the command's code.
func runVMExec(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: SOCKET CMD [ARG...]")
	}
	code, err := guestagent.Exec(context.Background(), args[0], guestagent.Request{Op: "exec", Argv: args[1:]}, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zoslab exec:", err)
	}
	os.Exit(code)
	return nil
}

// rebootVM power-cycles a vm node: qemu is killed, then started again with the same
// NICs, state disk and boot method; with o.Boot it waits until netinit is done again.
func (l *Lab) rebootVM(ctx context.Context, n *Node, o Options) error {
	if err := l.powerOffVM(ctx, n); err != nil {
		return fmt.Errorf("reboot %s: %w", n.Name, err)
	}
	if o.Boot {
		if err := l.bootVM(ctx, o, n); err != nil {
			return fmt.Errorf("reboot %s: %w", n.Name, err)
		}
	} else {
		if err := l.prepareVM(n); err != nil {
			return err
		}
		if err := l.powerOnVM(n); err != nil {
			return fmt.Errorf("reboot %s: %w", n.Name, err)
		}
	}
	return l.save()
}
