package gridapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// CreateExposure exposes a service through a gateway (owner of the network only).
func (c *Client) CreateExposure(ctx context.Context, s ExposureSpec) (Exposure, error) {
	var out Exposure
	return out, c.do(ctx, http.MethodPost, "/v1/exposures", s, &out)
}

// DeleteExposure removes an exposure (its owner only); its name or port is free at once.
func (c *Client) DeleteExposure(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/exposures/"+url.PathEscape(id), nil, nil)
}

// Exposures lists exposures, of one owner and/or one gateway when given.
func (c *Client) Exposures(ctx context.Context, owner string, gateway int64) ([]Exposure, error) {
	q := url.Values{}
	if owner != "" {
		q.Set("owner", owner)
	}
	if gateway != 0 {
		q.Set("gateway", strconv.FormatInt(gateway, 10))
	}
	p := "/v1/exposures"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out []Exposure
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// Exposure returns an exposure by id.
func (c *Client) Exposure(ctx context.Context, id string) (Exposure, error) {
	var out Exposure
	return out, c.do(ctx, http.MethodGet, "/v1/exposures/"+url.PathEscape(id), nil, &out)
}

// ReportExposure sends the gateway node's report on an exposure it serves.
func (c *Client) ReportExposure(ctx context.Context, node int64, id string, r ExposureReport) error {
	return c.do(ctx, http.MethodPut, "/v1/nodes/"+strconv.FormatInt(node, 10)+"/exposures/"+url.PathEscape(id)+"/report", r, nil)
}
