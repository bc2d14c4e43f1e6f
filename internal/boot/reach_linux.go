package boot

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/netns"
)

// HealthPath is appended to the registry URL for the reachability check.
const HealthPath = "/v1/health"

// Checker tells whether the registry is reachable: any HTTP response to a GET of
// <registry>/v1/health counts. Safe for concurrent use.
type Checker struct {
	url    string
	client *http.Client
	// Insecure is true when an https registry is checked without certificate
	// verification (no CA file given): the check only proves reachability.
	Insecure bool
}

// NewChecker makes a checker for registry. With caFile the registry's TLS certificate
// is verified against it; without, an https check skips verification (reachability
// only: nothing is sent or trusted). ns, when set, is where connections are opened.
func NewChecker(registry *url.URL, caFile string, ns *netns.NS) (*Checker, error) {
	if registry == nil {
		return nil, fmt.Errorf("registry: no URL (set zosnet.registry= on the kernel command line or --registry)")
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	c := &Checker{url: strings.TrimSuffix(registry.String(), "/") + HealthPath}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("registry CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry CA file %s: no PEM certificate in it", caFile)
		}
		tlsConf.RootCAs = pool
	} else if registry.Scheme == "https" {
		tlsConf.InsecureSkipVerify = true
		c.Insecure = true
	}
	tr := &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true, Proxy: nil,
		DialContext: dialer(ns), TLSHandshakeTimeout: 3 * time.Second}
	c.client = &http.Client{Transport: tr, Timeout: 4 * time.Second}
	return c, nil
}

// URL is the address checked.
func (c *Checker) URL() string { return c.url }

// Check does one GET; nil means the registry answered (any status).
func (c *Checker) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("registry %s: %w", c.url, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("registry %s unreachable: %w", c.url, err)
	}
	resp.Body.Close()
	return nil
}

// dialer opens TCP connections in ns (nil: the caller's namespace). The socket is made
// on a thread inside ns; once made it stays in ns.
func dialer(ns *netns.NS) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	if ns == nil {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() (err error) {
			c, err = d.Dial(network, addr)
			return err
		})
		return c, err
	}
}
