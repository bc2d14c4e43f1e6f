package scenario

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/lab"
)

// Gateway steps: a service in a workload, exposed through a public node's gateway, and
// reached from the user host by name (the farmer's DNS) over HTTP or HTTPS (trusting the
// lab's ACME CA).

// Expose runs `zosnet expose ARGS --json` as the user.
func (m *Mesh) Expose(ctx context.Context, args ...string) (gridapi.Exposure, error) {
	var e gridapi.Exposure
	err := m.Zosnet(ctx, &e, append([]string{"expose"}, args...)...)
	return e, err
}

// Service is the lab's test service (`zoslab serve`) running in a workload.
type Service struct {
	stdin io.Closer
	done  chan error
}

// Stop stops the service (its standard input closes) and waits for it.
func (s *Service) Stop() error {
	s.stdin.Close()
	select {
	case err := <-s.done:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the service did not stop within 10 s")
	}
}

// StartService runs `zoslab serve ARGS` in workload w and returns once it listens.
func (m *Mesh) StartService(ctx context.Context, w Workload, args ...string) (*Service, error) {
	argv := append([]string{"ip", "netns", "exec", w.Netns, filepath.Join(m.BinDir, "zoslab"), "serve", "--stdin-stop"}, args...)
	cmd, err := m.Lab.Command(context.WithoutCancel(ctx), w.Node, argv...)
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Service{stdin: in, done: make(chan error, 1)}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := sc.Scan() && sc.Text() == "listening"
		ready <- ok
		io.Copy(io.Discard, out)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case ok := <-ready:
		if ok {
			return s, nil
		}
	case <-time.After(15 * time.Second):
	}
	in.Close()
	return nil, fmt.Errorf("service in %s on %s did not start: %s", w.Netns, w.Node, strings.TrimSpace(errb.String()))
}

// UserClient is an HTTP client on the user host: names resolve through the farmer's
// DNS, and it trusts the lab's ACME CA (and the lab's own CA).
func (m *Mesh) UserClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	for _, f := range []string{m.Lab.ACMERootFile(), filepath.Join(filepath.Dir(m.Lab.ACMERootFile()), "ca.crt")} {
		if pem, err := os.ReadFile(f); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
	}
	return m.Lab.HTTPClientIn(lab.UserHost, &tls.Config{RootCAs: pool})
}

// Get fetches url with c and returns the status, the body and the response.
func Get(ctx context.Context, c *http.Client, url string) (int, string, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), resp, err
}

// WaitGet polls url every 50 ms until it answers 200, for timeout; it returns the body
// and how long it took. Each attempt is bounded by 500 ms, so a first connection attempt
// the gateway's firewall dropped (its port was not open yet) does not wait for TCP's
// SYN retransmissions.
func WaitGet(ctx context.Context, c *http.Client, url string, timeout time.Duration) (string, time.Duration, error) {
	start := time.Now()
	for {
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		code, body, _, err := Get(actx, c, url)
		cancel()
		if err == nil && code == 200 {
			return body, time.Since(start), nil
		}
		if err == nil {
			err = fmt.Errorf("status %d: %s", code, strings.TrimSpace(body))
		}
		if time.Since(start) > timeout {
			return "", time.Since(start), fmt.Errorf("%s after %s: %w", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return "", time.Since(start), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Backend is a workload running the lab's test service.
type Backend struct {
	Workload
	Service *Service
}

// ServiceNetwork creates network name over nodes, waits until it is up, attaches a
// workload on each node and runs `zoslab serve ARGS` in each (ARGS may use %s for the
// workload's node).
func (m *Mesh) ServiceNetwork(ctx context.Context, name, rng string, nodes []string, args ...string) (gridapi.Network, []Backend, error) {
	n, err := m.CreateNetwork(ctx, name, rng, nodes)
	if err != nil {
		return n, nil, err
	}
	if _, err := m.WaitUp(ctx, n.ID, len(nodes), 90*time.Second); err != nil {
		return n, nil, err
	}
	ws, err := m.AddWorkloads(ctx, n.ID, nodes)
	if err != nil {
		return n, nil, err
	}
	out := make([]Backend, 0, len(ws))
	for _, w := range ws {
		a := make([]string, len(args))
		for i, x := range args {
			a[i] = strings.ReplaceAll(x, "%s", w.Node)
		}
		s, err := m.StartService(ctx, w, a...)
		if err != nil {
			StopAll(out)
			return n, nil, err
		}
		out = append(out, Backend{Workload: w, Service: s})
	}
	return n, out, nil
}

// StopAll stops the backends' services.
func StopAll(bs []Backend) {
	for _, b := range bs {
		if b.Service != nil {
			b.Service.Stop()
		}
	}
}
