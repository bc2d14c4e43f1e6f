package packaging

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
	"github.com/zosnet/zosnet/internal/image"
	"github.com/zosnet/zosnet/internal/netns"
	"github.com/zosnet/zosnet/internal/testkit"
)

// unpack extracts a tar member of a .deb into root (regular files, directories,
// symlinks, with their modes) and returns the files' names.
func unpack(t *testing.T, deb, member, root string) map[string]string {
	t.Helper()
	names := map[string]string{}
	err := image.WalkDebMember(deb, member, func(h *tar.Header, r io.Reader) error {
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			return os.MkdirAll(p, os.FileMode(h.Mode).Perm())
		case tar.TypeSymlink:
			return os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			names[strings.TrimPrefix(h.Name, "./")] = string(b)
			return os.WriteFile(p, b, os.FileMode(h.Mode).Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestRegistryPackageInstalls builds the zosnet-registry .deb (linux/amd64), installs
// it into a throwaway root, checks its control data (conffile, scripts), makes the
// system user and the TLS certificate the way its postinst does, then starts the
// registry exactly as its systemd unit says — ExecStart expanded with the unit's
// Environment= and EnvironmentFile=, as the unit's User=, chrooted into the root, in a
// throwaway network namespace — and registers a farm and a node to it over HTTPS.
func TestRegistryPackageInstalls(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.LeakCheck(t)
	out := t.TempDir()
	arts, err := Build(context.Background(), Config{Version: "0.1.0", OutDir: out, Registry: true, Targets: []Target{{"linux", "amd64"}}})
	if err != nil || len(arts) != 1 {
		t.Fatalf("build: %v %v", arts, err)
	}
	deb := arts[0].Path
	root := t.TempDir()
	ctl := unpack(t, deb, "control.tar", filepath.Join(t.TempDir(), "control"))
	if strings.TrimSpace(ctl["conffiles"]) != RegistryDefault {
		t.Errorf("conffiles %q, want %s", ctl["conffiles"], RegistryDefault)
	}
	if ctl["postinst"] != PostInstall || ctl["prerm"] != PreRemove || ctl["postrm"] != PostRemove {
		t.Errorf("maintainer scripts differ from the package's")
	}
	data := unpack(t, deb, "data.tar", root)
	for _, p := range []string{RegistryBinary, RegistryUnit, RegistryDefault} {
		if _, ok := data[strings.TrimPrefix(p, "/")]; !ok {
			t.Fatalf("package lacks %s (has %v)", p, keys(data))
		}
	}
	unit := ParseUnit(data[strings.TrimPrefix(RegistryUnit, "/")])
	env := map[string]string{}
	for _, e := range unit["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	for _, f := range unit["EnvironmentFile"] {
		b, err := os.ReadFile(filepath.Join(root, strings.TrimPrefix(f, "-")))
		if err != nil && !strings.HasPrefix(f, "-") {
			t.Fatal(err)
		}
		for k, v := range ParseEnvFile(string(b)) {
			env[k] = v
		}
	}
	argv := ExpandExec(unit["ExecStart"][0], env)
	// What postinst does on a real system: the system user, the state directory, the CA
	// and the server certificate (with the package's own binary).
	uid, user := 64321, unit["User"][0]
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte(fmt.Sprintf("root:x:0:0::/root:/bin/sh\n%s:x:%d:%d::%s:/usr/sbin/nologin\n", user, uid, uid, RegistryState)), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\n", user, uid)), 0o644)
	if err := os.MkdirAll(filepath.Join(root, RegistryState), 0o755); err != nil { // install -d, under /var/lib
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, RegistryState), 0o750)
	chrootRun(t, root, RegistryBinary, "ca", "init", "--dir", RegistryState+"/ca")
	chrootRun(t, root, RegistryBinary, "ca", "issue", "--dir", RegistryState+"/ca", "--host", CertHosts+",testhost", "--out", RegistryState+"/tls/server")
	if err := chownR(filepath.Join(root, RegistryState), uid); err != nil {
		t.Fatal(err)
	}
	ns := testkit.NewNS(t)
	cmd := exec.Command(filepath.Join(root, argv[0]), argv[1:]...)
	cmd.Path = argv[0] // resolved inside the chroot
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, _ := os.Create(filepath.Join(out, "registry.log"))
	defer logf.Close()
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}, Pdeathsig: syscall.SIGKILL}
	if err := ns.Do(cmd.Start); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("registry log:\n%s", b)
		}
	})
	registerThrough(t, ns, filepath.Join(root, RegistryState, "ca", "ca.crt"))
	if st, err := os.Stat(filepath.Join(root, RegistryState, "grid.db")); err != nil || st.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Errorf("default SQLite database: %v (owned by the service user?)", err)
	}
}

// registerThrough creates a farm and registers a node to the registry listening on
// :8443 in ns, trusting the CA bundle.
func registerThrough(t *testing.T, ns *netns.NS, caFile string) {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() (err error) { c, err = (&net.Dialer{Timeout: 5 * time.Second}).Dial(network, addr); return })
		return c, err
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	farmer, _ := identity.Generate()
	nodeKey, _ := identity.Generate()
	fc := &gridapi.Client{Base: "https://127.0.0.1:8443", HTTP: hc, Key: farmer}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := fc.Health(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry from the package never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	farm, err := fc.CreateFarm(ctx, gridapi.FarmCreate{Name: "pkgfarm"})
	if err != nil {
		t.Fatal(err)
	}
	nc := &gridapi.Client{Base: fc.Base, HTTP: hc, Key: nodeKey}
	n, err := nc.Register(ctx, gridapi.NodeRegister{FarmID: farm.ID, Name: "pkgnode", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := fc.Node(ctx, "pkgnode")
	if err != nil || got.ID != n.ID || got.FarmID != farm.ID {
		t.Fatalf("registered node %+v, read back %+v %v", n, got, err)
	}
}

func chrootRun(t *testing.T, root string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v in the package root: %v\n%s", argv, err, out)
	}
}

func chownR(dir string, uid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
