package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The lab re-executes the running binary (zoslab, or a test binary importing this
// package) for the processes it needs: ZOSLAB_REEXEC selects the role and init runs it
// before main, so any binary that links the package can be a node holder.
const (
	envReexec  = "ZOSLAB_REEXEC"
	envLab     = "ZOSLAB_LAB"      // on every process of a lab: Down's mark
	envNode    = "ZOSLAB_NODE"     // holder: node name
	envCmdline = "ZOSLAB_CMDLINE"  // holder: file bind-mounted on /proc/cmdline
	envState   = "ZOSLAB_STATEDIR" // holder: dir bind-mounted on NodeStateDir
	envHostNS  = "ZOSLAB_HOSTNS"   // helpers: dev:inode of the host netns, never send from it
)

// NodeStateDir is where a node sees its private state directory.
const NodeStateDir = "/var/lib/zosnet"

// NodeMarker is the file in a node's private /run that says "<lab> <node>": a process
// that sees it runs inside a lab node (whose PID 1, the holder, shares the node's network
// namespace, so netns.IsInit reports true there).
const NodeMarker = "/run/zoslab-node"

func init() {
	role := os.Getenv(envReexec)
	if role == "" {
		return
	}
	os.Unsetenv(envReexec)
	var err error
	switch role {
	case "holder":
		err = runHolder()
	case "delay":
		err = runDelayed(os.Args[1:])
	case "dhcp":
		err = runDHCPClient(os.Args[1:])
	case "vm":
		err = runVMHolder(os.Args[1:]) // vmholder_linux.go
	case "vmexec":
		err = runVMExec(os.Args[1:])
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "zoslab %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// selfExe is the binary re-executed for holders and helpers.
func selfExe() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	return p, nil
}

// runHolder is PID 1 of a node: it sets up the node's mounts, reports readiness on fd 3
// and then reaps children until it is told to stop (SIGTERM) or killed. When it exits the
// kernel kills every process of the node's PID namespace.
func runHolder() error {
	ready := os.NewFile(3, "ready")
	if err := setupNode(); err != nil {
		fmt.Fprintf(ready, "error: %v\n", err)
		return err
	}
	fmt.Fprintln(ready, "ok")
	ready.Close()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return nil
		}
		reapAll()
	}
	return nil
}

func reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func setupNode() error {
	node, cmdline, state := os.Getenv(envNode), os.Getenv(envCmdline), os.Getenv(envState)
	steps := []struct {
		what string
		fn   func() error
	}{
		{"make / rprivate", func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") }},
		{"mount /proc", func() error {
			return unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}},
		{"bind /proc/cmdline", func() error { return unix.Mount(cmdline, "/proc/cmdline", "", unix.MS_BIND, "") }},
		{"bind state dir", func() error {
			if err := os.MkdirAll(NodeStateDir, 0o755); err != nil {
				return err
			}
			return unix.Mount(state, NodeStateDir, "", unix.MS_BIND, "")
		}},
		{"mount /sys", func() error {
			return unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}},
		{"mount /run", func() error {
			return unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755")
		}},
		{"write marker", func() error {
			return os.WriteFile(NodeMarker, []byte(os.Getenv(envLab)+" "+node+"\n"), 0o644)
		}},
		{"set hostname", func() error { return unix.Sethostname([]byte(node)) }},
		{"bring lo up", loUp},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return fmt.Errorf("node %s: %s: %w", node, s.what, err)
		}
	}
	return nil
}

func loUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

// runDelayed sleeps, then replaces itself with argv[1:] (argv[0] is the delay): a
// late-starting server keeps one PID from the start.
func runDelayed(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: DELAY CMD [ARG...]")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return fmt.Errorf("delay %q: %w", args[0], err)
	}
	time.Sleep(d)
	bin, err := exec.LookPath(args[1])
	if err != nil {
		return err
	}
	return syscall.Exec(bin, args[1:], os.Environ())
}

// startHolder starts the holder of one node and waits until its mounts are set up.
// The holder survives the caller's exit; a goroutine reaps it if it dies first.
func startHolder(lab, node, dir string) (int, error) {
	exe, err := selfExe()
	if err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("node %s: ready pipe: %w", node, err)
	}
	defer r.Close()
	cmd := exec.Command(exe, "zoslab-holder", node)
	cmd.Env = append(cleanEnv(),
		envReexec+"=holder", envLab+"="+lab, envNode+"="+node,
		envCmdline+"="+filepath.Join(dir, "cmdline"), envState+"="+filepath.Join(dir, "state"))
	cmd.ExtraFiles = []*os.File{w}
	logf, err := os.OpenFile(filepath.Join(dir, "holder.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.Close()
		return 0, fmt.Errorf("node %s: holder log: %w", node, err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("node %s: start holder: %w", node, err)
	}
	go cmd.Wait()
	if err := readReady(r, node); err != nil {
		cmd.Process.Kill()
		return 0, err
	}
	return cmd.Process.Pid, nil
}

func readReady(r *os.File, node string) error {
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := r.Read(buf)
	msg := string(buf[:n])
	switch {
	case n > 0 && msg == "ok\n":
		return nil
	case n > 0:
		return fmt.Errorf("node %s: holder: %s", node, msg)
	default:
		return fmt.Errorf("node %s: holder did not report ready: %v", node, err)
	}
}

// cleanEnv is the environment for lab processes: ours without lab marks.
func cleanEnv() []string {
	var out []string
	for _, e := range os.Environ() {
		switch {
		case hasPrefix(e, envReexec+"="), hasPrefix(e, envLab+"="), hasPrefix(e, envNode+"="), hasPrefix(e, envVM+"="):
			continue
		}
		out = append(out, e)
	}
	return out
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// hostNSID names the host network namespace (dev:inode) for helpers that must refuse to
// send lab traffic from it.
func hostNSID() string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(os.Getpid())+"/ns/net", &st); err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
