package localapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/zosnet/zosnet/internal/public"
)

// NodeStatus is /v1/node: the node's uplinks, endpoints and the top-level hidden flag.
type NodeStatus struct {
	public.Status
	// Managed is false while networkd does not manage the uplinks (then Hidden is true
	// and the lists are empty).
	Managed bool   `json:"managed"`
	Note    string `json:"note,omitempty"`
}

// PublicConfigState is /v1/public-config: the farmer's public config, nil when unset.
type PublicConfigState struct {
	Config *public.Config `json:"config"`
}

// UplinkBackend is what the uplink routes serve; networkd's daemon implements it.
type UplinkBackend interface {
	NodeStatus() NodeStatus
	PublicConfig() *public.Config
	SetPublicConfig(ctx context.Context, cfg *public.Config) error
}

// UplinkRoutes returns the uplink routes, to mount in s.Extra: GET /v1/node,
// GET|PUT|DELETE /v1/public-config (changes need root, like every change).
func UplinkRoutes(s *Server, b UplinkBackend) map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/node": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reply(w, b.NodeStatus(), nil) }),
		"GET /v1/public-config": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reply(w, PublicConfigState{Config: b.PublicConfig()}, nil)
		}),
		"PUT /v1/public-config": s.root(func(w http.ResponseWriter, r *http.Request) {
			var cfg public.Config
			if err := decode(r, &cfg); err != nil {
				reply(w, nil, err)
				return
			}
			reply(w, PublicConfigState{Config: &cfg}, b.SetPublicConfig(r.Context(), &cfg))
		}),
		"DELETE /v1/public-config": s.root(func(w http.ResponseWriter, r *http.Request) {
			reply(w, PublicConfigState{}, b.SetPublicConfig(r.Context(), nil))
		}),
	}
}

// NodeStatus returns the node's uplinks, endpoints and hidden flag.
func (c *Client) NodeStatus(ctx context.Context) (st NodeStatus, err error) {
	return st, c.do(ctx, http.MethodGet, "/v1/node", nil, &st)
}

// PublicConfig returns the node's public config (Config nil when unset).
func (c *Client) PublicConfig(ctx context.Context) (st PublicConfigState, err error) {
	return st, c.do(ctx, http.MethodGet, "/v1/public-config", nil, &st)
}

// SetPublicConfig sets (or changes) the node's public config; it applies at once.
func (c *Client) SetPublicConfig(ctx context.Context, cfg public.Config) error {
	return c.do(ctx, http.MethodPut, "/v1/public-config", cfg, nil)
}

// UnsetPublicConfig removes the node's public config; a missing one is success.
func (c *Client) UnsetPublicConfig(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/public-config", nil, nil)
}

// IsInvalid reports whether err is a refused request (bad input).
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }
