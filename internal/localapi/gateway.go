package localapi

import (
	"context"
	"net/http"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// GatewayBackend is what a Backend implements to serve GET|PUT /v1/gateway-firewall
// (a gateway node's public ports and the backends its connections may reach).
type GatewayBackend interface {
	GatewayFirewall(ctx context.Context) (nodeapi.GatewayFirewall, error)
	SetGatewayFirewall(ctx context.Context, g nodeapi.GatewayFirewall) error
}

// gatewayRoutes: GET|PUT /v1/gateway-firewall when the backend serves them.
func (s *Server) gatewayRoutes(m *http.ServeMux) {
	gb, ok := s.B.(GatewayBackend)
	if !ok {
		return
	}
	m.HandleFunc("GET /v1/gateway-firewall", func(w http.ResponseWriter, r *http.Request) {
		g, err := gb.GatewayFirewall(r.Context())
		s.reply(w, r, g, err)
	})
	m.HandleFunc("PUT /v1/gateway-firewall", s.root(func(w http.ResponseWriter, r *http.Request) {
		var g nodeapi.GatewayFirewall
		if err := decode(w, r, &g); err != nil {
			s.reply(w, r, nil, err)
			return
		}
		s.reply(w, r, g, gb.SetGatewayFirewall(r.Context(), g))
	}))
}

// GatewayFirewall returns the gateway firewall networkd applies.
func (c *Client) GatewayFirewall(ctx context.Context) (g nodeapi.GatewayFirewall, err error) {
	return g, c.do(ctx, http.MethodGet, "/v1/gateway-firewall", nil, &g)
}

// SetGatewayFirewall replaces the gateway firewall (root only).
func (c *Client) SetGatewayFirewall(ctx context.Context, g nodeapi.GatewayFirewall) error {
	return c.do(ctx, http.MethodPut, "/v1/gateway-firewall", g, nil)
}
