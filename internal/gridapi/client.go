package gridapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zosnet/zosnet/internal/identity"
)

// Client is a typed registry client. Writes are signed with Key (nil: writes fail with
// the server's 401). Safe for concurrent use.
type Client struct {
	Base string       // e.g. https://198.51.100.2:8443
	HTTP *http.Client // nil means a default client with a 150 s timeout
	Key  *identity.Key
}

// APIError is a non-2xx answer from the registry.
type APIError struct {
	Status  int
	Message string
	Field   string
	// RetryAfter is the registry's Retry-After (503 when it sheds load, 429), 0 when
	// absent: wait at least that long before retrying.
	RetryAfter time.Duration
}

// Error implements error, with the status and the field when the registry named one.
func (e *APIError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("registry: %d: %s (field %s)", e.Status, e.Message, e.Field)
	}
	return fmt.Sprintf("registry: %d: %s", e.Status, e.Message)
}

// IsStatus reports whether err is an APIError with the given status.
func IsStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}

// HTTPClient returns an HTTP client that trusts only the CAs in caFile (PEM), or the
// system roots when caFile is "".
func HTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s: no PEM certificates", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 150 * time.Second}, nil // above the longest long-poll (120 s)
}

var defaultHTTP = &http.Client{Timeout: 150 * time.Second}

func (c *Client) httpc() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// do sends a request; in (if non-nil) is JSON-encoded; out (if non-nil) decoded.
// Requests with a body or a non-GET method are signed.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("registry request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet && c.Key != nil {
		if err := c.Key.SignRequest(req, body, time.Now()); err != nil {
			return err
		}
	}
	resp, err := c.httpc().Do(req)
	if err != nil {
		return fmt.Errorf("registry %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	return decode(resp, out)
}

func decode(resp *http.Response, out any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("registry answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error, Field: e.Field, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("registry answer: %w", err)
	}
	return nil
}

// Health returns the registry's health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.do(ctx, http.MethodGet, "/v1/health", nil, &h)
}

// CreateFarm creates a farm owned by c.Key.
func (c *Client) CreateFarm(ctx context.Context, f FarmCreate) (Farm, error) {
	var out Farm
	return out, c.do(ctx, http.MethodPost, "/v1/farms", f, &out)
}

// Farms lists farms.
func (c *Client) Farms(ctx context.Context) ([]Farm, error) {
	var out []Farm
	return out, c.do(ctx, http.MethodGet, "/v1/farms", nil, &out)
}

// Farm returns a farm by id or name.
func (c *Client) Farm(ctx context.Context, idOrName string) (Farm, error) {
	var out Farm
	return out, c.do(ctx, http.MethodGet, "/v1/farms/"+url.PathEscape(idOrName), nil, &out)
}

// Register registers the node whose key is c.Key (idempotent: returns the existing node).
func (c *Client) Register(ctx context.Context, r NodeRegister) (Node, error) {
	var out Node
	return out, c.do(ctx, http.MethodPost, "/v1/nodes", r, &out)
}

// Nodes lists nodes, of one farm when farm > 0.
func (c *Client) Nodes(ctx context.Context, farm int64) ([]Node, error) {
	var out []Node
	p := "/v1/nodes"
	if farm > 0 {
		p += "?farm=" + strconv.FormatInt(farm, 10)
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// Node returns a node by id or name.
func (c *Client) Node(ctx context.Context, idOrName string) (Node, error) {
	var out Node
	return out, c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(idOrName), nil, &out)
}

func nodePath(id int64, rest string) string {
	return "/v1/nodes/" + strconv.FormatInt(id, 10) + rest
}

// ReportFacts replaces the node's reported facts.
func (c *Client) ReportFacts(ctx context.Context, node int64, f NodeFacts) error {
	return c.do(ctx, http.MethodPut, nodePath(node, "/facts"), f, nil)
}

// Heartbeat tells the registry the node is alive.
func (c *Client) Heartbeat(ctx context.Context, node int64) error {
	return c.do(ctx, http.MethodPost, nodePath(node, "/heartbeat"), nil, nil)
}

// SetPublicConfig sets a node's public config (farm owner only).
func (c *Client) SetPublicConfig(ctx context.Context, node int64, p PublicConfig) (Node, error) {
	var out Node
	return out, c.do(ctx, http.MethodPut, nodePath(node, "/public-config"), p, &out)
}

// SetFarmEgressAllow replaces a farm's egress allow list (farm owner only; empty:
// none); every node of the farm applies it within seconds.
func (c *Client) SetFarmEgressAllow(ctx context.Context, farm int64, allow []string) (Farm, error) {
	var out Farm
	if allow == nil {
		allow = []string{}
	}
	return out, c.do(ctx, http.MethodPut, "/v1/farms/"+strconv.FormatInt(farm, 10)+"/egress-allow", FarmEgressAllow{Allow: allow}, &out)
}

// UnsetPublicConfig removes a node's public config (farm owner only).
func (c *Client) UnsetPublicConfig(ctx context.Context, node int64) error {
	return c.do(ctx, http.MethodDelete, nodePath(node, "/public-config"), nil, nil)
}

// ReportNR reports the node's network resource for a network.
func (c *Client) ReportNR(ctx context.Context, node int64, network string, r NRReport) error {
	return c.do(ctx, http.MethodPut, nodePath(node, "/networks/"+url.PathEscape(network)+"/report"), r, nil)
}

// Desired long-polls what the node must run: it returns once the revision is > rev, or
// after timeout (0: the server's default): with the current state when rev is 0, else
// with a zero Desired (Revision 0: nothing new; the registry answers 204 then, or the
// current state if it is older than that rule).
func (c *Client) Desired(ctx context.Context, node int64, rev int64, timeout time.Duration) (Desired, error) {
	var out Desired
	p := nodePath(node, "/desired?revision="+strconv.FormatInt(rev, 10))
	if timeout > 0 {
		p += "&timeout=" + timeout.String()
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// CreateNetwork creates a network owned by c.Key.
func (c *Client) CreateNetwork(ctx context.Context, s NetworkSpec) (Network, error) {
	var out Network
	return out, c.do(ctx, http.MethodPost, "/v1/networks", s, &out)
}

// UpdateNetwork replaces a network's spec (owner only).
func (c *Client) UpdateNetwork(ctx context.Context, id string, s NetworkSpec) (Network, error) {
	var out Network
	return out, c.do(ctx, http.MethodPut, "/v1/networks/"+url.PathEscape(id), s, &out)
}

// DeleteNetwork deletes a network (owner only).
func (c *Client) DeleteNetwork(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/networks/"+url.PathEscape(id), nil, nil)
}

// Networks lists networks, of one owner when owner != "".
func (c *Client) Networks(ctx context.Context, owner string) ([]Network, error) {
	var out []Network
	p := "/v1/networks"
	if owner != "" {
		p += "?owner=" + url.QueryEscape(owner)
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// Network returns a network by id.
func (c *Client) Network(ctx context.Context, id string) (Network, error) {
	var out Network
	return out, c.do(ctx, http.MethodGet, "/v1/networks/"+url.PathEscape(id), nil, &out)
}

// NetworkStatus returns a network with every member's facts and network-resource report.
func (c *Client) NetworkStatus(ctx context.Context, id string) (DesiredNetwork, error) {
	var out DesiredNetwork
	return out, c.do(ctx, http.MethodGet, "/v1/networks/"+url.PathEscape(id)+"/status", nil, &out)
}

// maxRetryAfter caps what a server may ask a client to wait.
const maxRetryAfter = 5 * time.Minute

// parseRetryAfter reads a Retry-After header (delay-seconds or an HTTP date, RFC 9110
// 10.2.3) relative to now; 0 when absent, invalid or in the past, capped at 5 minutes.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		d = time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}

// RetryAfter returns the Retry-After an error from the registry carries (0: none).
func RetryAfter(err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
