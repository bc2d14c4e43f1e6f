package localapi

import (
	"context"
	"net/http"

	"github.com/zosnet/zosnet/internal/public"
)

// PublicBackend is the optional part of a Backend that serves the node's public side
// (issue 5): the farmer's public config, applied by networkd through public.Uplinks.
type PublicBackend interface {
	PublicStatus() public.Status
	// SetPublicConfig applies cfg (nil removes the public config); idempotent.
	SetPublicConfig(ctx context.Context, cfg *public.Config) error
}

// publicRoutes mounts GET /v1/public, PUT and DELETE /v1/public/config when the
// backend implements PublicBackend.
func (s *Server) publicRoutes(m *http.ServeMux) {
	pb, ok := s.B.(PublicBackend)
	if !ok {
		return
	}
	m.HandleFunc("GET /v1/public", func(w http.ResponseWriter, r *http.Request) { reply(w, pb.PublicStatus(), nil) })
	m.HandleFunc("PUT /v1/public/config", s.root(func(w http.ResponseWriter, r *http.Request) {
		var c public.Config
		if err := decode(r, &c); err != nil {
			reply(w, nil, err)
			return
		}
		reply(w, struct{}{}, pb.SetPublicConfig(r.Context(), &c))
	}))
	m.HandleFunc("DELETE /v1/public/config", s.root(func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, pb.SetPublicConfig(r.Context(), nil))
	}))
}

// PublicStatus returns the node's uplinks, endpoints and public config.
func (c *Client) PublicStatus(ctx context.Context) (st public.Status, err error) {
	return st, c.do(ctx, http.MethodGet, "/v1/public", nil, &st)
}

// SetPublicConfig applies the farmer's public config; nil removes it.
func (c *Client) SetPublicConfig(ctx context.Context, cfg *public.Config) error {
	if cfg == nil {
		return c.do(ctx, http.MethodDelete, "/v1/public/config", nil, nil)
	}
	return c.do(ctx, http.MethodPut, "/v1/public/config", cfg, nil)
}
