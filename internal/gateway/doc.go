// Package gateway is the data path of a public node's gateway: it publishes services
// of users' networks under names of the node's gateway domain (HTTP on ports 80 and
// 443) and on ports of its public addresses (raw TCP and UDP).
//
// The core is pure: Config (what the registry's exposures say, as the node persists
// it) builds a Table (names and ports to routes), checked whole before anything
// changes. The shell is a Server that owns the listeners (opened by a Listen function,
// in the node's `public` namespace) and reaches backends with a Dialer (a socket in the
// route's network namespace, so the gateway never routes between a user network and
// the world at the IP level, and reaches nothing but the backends of its routes).
//
//   - HTTP (port 80) and terminated TLS (port 443, certificates from a CertSource such
//     as ACME): HTTP/1.1, HTTP/2 (TLS), WebSockets and streaming through
//     net/http/httputil.ReverseProxy, with X-Forwarded-For/-Proto/-Host and an optional
//     PROXY protocol v2 header towards the backend. Only names in the table are served:
//     other Host headers, CONNECT and absolute request URIs are refused (not an open
//     proxy).
//   - Passthrough TLS (port 443): the ClientHello is peeked (crypto/tls parses it) and
//     the connection spliced to a backend by SNI; the gateway holds no key. Port 80
//     forwards ACME HTTP-01 challenges of passthrough names to the backend's port 80.
//   - Raw TCP and UDP on a route's port, with the same backend choice.
//
// Every route has several backends with active health checks (a TCP connect every
// interval; down after Fall failures, up after Rise successes) and a per-route request
// rate limit and connection cap. Apply swaps the table atomically: connections of
// routes that stay are never touched; a removed route's connections are closed and
// its certificate forgotten. Metrics per route name: requests, bytes, backend health,
// latency.
//
// Concurrency: every exported method of Server is safe for concurrent use.
package gateway
