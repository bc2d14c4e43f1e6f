// Package localapi is networkd's local API: HTTP/JSON on a unix socket under /v1/,
// served by Server from a Backend (the daemon), and a typed Client used by the CLI,
// provisiond and the tests. What it carries is package nodeapi's; localapi imports no
// other project package, so the CLI builds on every platform.
//
// Routes: GET /v1/status, GET /v1/nrs, GET|PUT|DELETE /v1/nrs/{id}, GET /v1/workloads,
// PUT|DELETE /v1/workloads/{name}, GET /v1/node, GET|PUT|DELETE /v1/public-config, GET|PUT
// /v1/egress-allow, and
// GET /metrics when the server has a Metrics handler. Reads are open to any local
// user; changes (PUT, DELETE) need the caller to be root, checked with the socket's
// peer credentials (Linux; elsewhere every change is refused). Errors are JSON
// {"error": "..."} with the status of the nodeapi sentinel they wrap. The WireGuard
// private key never appears in any answer.
//
// Listen refuses a socket on which a server still answers, so a second networkd
// cannot take over a live one.
package localapi

// DefaultSocket is where networkd listens by default.
const DefaultSocket = "/run/zosnet/networkd.sock"

// errorBody is every error answer.
type errorBody struct {
	Error string `json:"error"`
}
