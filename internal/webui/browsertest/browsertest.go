// Package browsertest drives Debian's chromium, headless, from Go tests (chromedp): a
// browser per test, optionally started inside a lab namespace, and screenshots written
// as test artifacts (t.ArtifactDir: kept with `go test -artifacts`, else removed with
// the test). Used by the webui, explorer and end-to-end tests; never by product code.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is Debian's browser binary (scripts/install-deps.sh installs it).
const Chromium = "/usr/bin/chromium"

// New starts a headless chromium for t and returns a tab's context; the browser is
// closed at cleanup. wrap, when not nil, rewrites the browser's command (e.g. to start
// it inside a lab namespace with nsenter; the devtools pipe on fds 3 and 4 is
// inherited). Without chromium the test fails under CI=true and is skipped otherwise.
func New(t testing.TB, wrap func(cmd *exec.Cmd)) context.Context {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser: %v (scripts/install-deps.sh installs chromium)", err)
		}
		t.Skipf("no browser at %s (scripts/install-deps.sh installs chromium)", Chromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium),
		chromedp.Flag("ignore-certificate-errors", true), // the lab's CA is not the system's
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			if wrap != nil {
				wrap(cmd)
			}
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // never outlives the test binary
		}),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Do runs steps with a timeout, failing t with what was being done.
func Do(t testing.TB, ctx context.Context, what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression in the page and returns its value.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// EvalAsync evaluates a JavaScript expression that yields a promise and returns what
// the promise resolves to.
func EvalAsync[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// Wait polls a JavaScript expression in the page until it is truthy (or timeout) and
// returns its value; on timeout it fails t, saying what was awaited and what last came.
func Wait[T any](t testing.TB, ctx context.Context, what, expr string, timeout time.Duration) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	deadline := time.Now().Add(timeout)
	var v T
	var err error
	for {
		v, err = chromedp.Run(tctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(100*time.Millisecond)))
		// a navigation that had not yet made its document's context: poll the new one
		if err == nil || !strings.Contains(err.Error(), "Cannot find context") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("[role=status]") || {}).textContent || ""`))
		t.Fatalf("browser: waiting for %s (%s): %v; the page says: %q", what, expr, err, status)
	}
	return v
}

// Screenshot writes the whole page as <artifact dir>/<name>.png and returns the path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

func artifactDir(t testing.TB) string {
	if a, ok := t.(interface{ ArtifactDir() string }); ok {
		return a.ArtifactDir()
	}
	return t.TempDir()
}
