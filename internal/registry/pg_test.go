package registry

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pgBinDir finds the newest Debian PostgreSQL server binaries (Debian 12: 15).
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", fmt.Errorf("no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)")
	}
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

func pgVersion(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// pgCluster is the throwaway PostgreSQL cluster shared by this test binary (nil when it
// could not be started outside CI; see pgSkipReason).
var (
	pgDir        string
	pgSkipReason string
	pgSeq        atomic.Int64
)

func TestMain(m *testing.M) {
	stop, err := startPostgres()
	if err != nil {
		pgSkipReason = err.Error()
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "registry tests: PostgreSQL is required in CI:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// startPostgres initdb's a cluster in a fresh directory owned by the postgres user and
// runs postgres on a unix socket there (no TCP), as that user.
func startPostgres() (func(), error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root to run PostgreSQL as the postgres user")
	}
	pgBin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "zosnet-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr, initdb.Dir = cred, dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	srv := exec.Command(filepath.Join(pgBin, "postgres"), "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300")
	srv.SysProcAttr, srv.Dir = cred, dir
	srv.SysProcAttr.Pdeathsig = syscall.SIGTERM
	logf, _ := os.Create(filepath.Join(dir, "server.log"))
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	stop := func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
		logf.Close()
		os.RemoveAll(dir)
	}
	pgDir = dir
	if err := waitPostgres(pgDSN("postgres")); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		stop()
		return nil, fmt.Errorf("postgres did not come up: %v: %s", err, b)
	}
	return stop, nil
}

func pgDSN(db string) string {
	return "postgres://postgres@/" + db + "?host=" + pgDir + "&sslmode=disable"
}

func waitPostgres(dsn string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newPGDatabase creates a fresh database for one test and returns its DSN; it is
// dropped when the test ends.
func newPGDatabase(t testing.TB) string {
	t.Helper()
	if pgDir == "" {
		t.Skipf("PostgreSQL backend unavailable: %s (never skipped in CI)", pgSkipReason)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgSeq.Add(1))
	admin, err := sql.Open("pgx", pgDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return pgDSN(name)
}
