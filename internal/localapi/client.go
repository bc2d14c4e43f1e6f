package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Client talks to networkd over its unix socket. Safe for concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the socket at path ("" = DefaultSocket).
func NewClient(path string) *Client {
	if path == "" {
		path = DefaultSocket
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{socket: path, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// APIError is an error answer; it wraps the nodeapi sentinel matching its HTTP status.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Unwrap maps the status back to the nodeapi sentinels.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return nodeapi.ErrNotFound
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return nodeapi.ErrInvalid
	case http.StatusConflict:
		return nodeapi.ErrConflict
	case http.StatusForbidden:
		return nodeapi.ErrForbidden
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://networkd"+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("networkd at %s: %w (is networkd running? use --socket)", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("networkd answered %s to %s %s without an error message", resp.Status, method, path)
		}
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode networkd answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Status returns the node summary.
func (c *Client) Status(ctx context.Context) (st nodeapi.Status, err error) {
	return st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// ListNRs returns every network resource, sorted by id.
func (c *Client) ListNRs(ctx context.Context) (nrs []nodeapi.NR, err error) {
	return nrs, c.do(ctx, http.MethodGet, "/v1/nrs", nil, &nrs)
}

// GetNR returns one network resource (ErrNotFound if absent).
func (c *Client) GetNR(ctx context.Context, id string) (nr nodeapi.NR, err error) {
	return nr, c.do(ctx, http.MethodGet, "/v1/nrs/"+url.PathEscape(id), nil, &nr)
}

// PutNR creates or updates a network resource and returns it as applied.
func (c *Client) PutNR(ctx context.Context, s nodeapi.NRSpec) (nr nodeapi.NR, err error) {
	return nr, c.do(ctx, http.MethodPut, "/v1/nrs/"+url.PathEscape(s.NetworkID), s, &nr)
}

// DeleteNR removes a network resource; a missing one is ErrNotFound (404).
func (c *Client) DeleteNR(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/nrs/"+url.PathEscape(id), nil, nil)
}

// ListWorkloads returns every attached workload.
func (c *Client) ListWorkloads(ctx context.Context) (ws []nodeapi.Workload, err error) {
	return ws, c.do(ctx, http.MethodGet, "/v1/workloads", nil, &ws)
}

// AddWorkload attaches a workload (idempotent) and returns its addresses.
func (c *Client) AddWorkload(ctx context.Context, s nodeapi.WorkloadSpec) (w nodeapi.Workload, err error) {
	return w, c.do(ctx, http.MethodPut, "/v1/workloads/"+url.PathEscape(s.Name), s, &w)
}

// RemoveWorkload detaches a workload; a missing one is ErrNotFound (404).
func (c *Client) RemoveWorkload(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/workloads/"+url.PathEscape(name), nil, nil)
}

// NodeStatus returns the node's uplinks, endpoints and hidden flag.
func (c *Client) NodeStatus(ctx context.Context) (st nodeapi.NodeStatus, err error) {
	return st, c.do(ctx, http.MethodGet, "/v1/node", nil, &st)
}

// PublicConfig returns the node's public config (Config nil when unset).
func (c *Client) PublicConfig(ctx context.Context) (st nodeapi.PublicConfigState, err error) {
	return st, c.do(ctx, http.MethodGet, "/v1/public-config", nil, &st)
}

// SetPublicConfig sets (or changes) the node's public config; it applies at once.
func (c *Client) SetPublicConfig(ctx context.Context, cfg nodeapi.PublicConfig) error {
	return c.do(ctx, http.MethodPut, "/v1/public-config", cfg, nil)
}

// UnsetPublicConfig removes the node's public config; a missing one is success.
func (c *Client) UnsetPublicConfig(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/public-config", nil, nil)
}

// EgressAllow returns the farmer's egress allow list on the node.
func (c *Client) EgressAllow(ctx context.Context) ([]nodeapi.EgressAllow, error) {
	var body nodeapi.EgressAllowList
	err := c.do(ctx, http.MethodGet, "/v1/egress-allow", nil, &body)
	return body.Allow, err
}

// SetEgressAllow replaces the node's egress allow list (empty: none); it applies at once.
func (c *Client) SetEgressAllow(ctx context.Context, list []nodeapi.EgressAllow) error {
	if list == nil {
		list = []nodeapi.EgressAllow{}
	}
	return c.do(ctx, http.MethodPut, "/v1/egress-allow", nodeapi.EgressAllowList{Allow: list}, nil)
}

// IsNotFound reports whether err is a not-found answer.
func IsNotFound(err error) bool { return errors.Is(err, nodeapi.ErrNotFound) }

// IsInvalid reports whether err is a refused request (bad input).
func IsInvalid(err error) bool { return errors.Is(err, nodeapi.ErrInvalid) }

// SetRegistryStatus reports the registry connection to networkd (provisiond does).
func (c *Client) SetRegistryStatus(ctx context.Context, st nodeapi.RegistryStatus) error {
	return c.do(ctx, http.MethodPut, "/v1/registry", st, nil)
}
