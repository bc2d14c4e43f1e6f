// Package registry is the grid database server (the seeds' BCDB): farms, nodes and
// their reported facts, farmer-set public configs, users' networks and the nodes'
// network-resource reports, behind the signed HTTP/JSON API described in package
// gridapi (which documents the contract) and in openapi.yaml (served at
// /v1/openapi.yaml).
//
// Storage is a Store: SQLite (embedded default, WAL; one registry process per file) or
// PostgreSQL (several registry instances may share one database: writers serialize on
// the revision counter row, changes reach every instance's watchers through
// LISTEN/NOTIFY, and request signatures are recorded in the database so a request
// accepted by one instance is a replay for the others). Every write is signed
// (package identity) and checked for freshness (±60 s), replays and ownership. Requests
// are limited in size (1 MiB) and rate (token bucket per client address). GET
// /v1/health, /metrics (Prometheus) and the read-only grid explorer (/explorer/,
// package explorer; / redirects there) are served too.
//
// Running it (cmd/registry, see Main):
//
//	registry ca init --dir ./ca                                   # the deployment's CA
//	registry ca issue --dir ./ca --host 198.51.100.10 --out ./tls/server
//	registry --db ./grid.db --tls-cert ./tls/server.crt --tls-key ./tls/server.key
//	registry --db postgres://user@host/grid --insecure-http --listen 127.0.0.1:8080
//
// Without flags it reads ZOSNET_LISTEN, ZOSNET_DB and ZOSNET_STATE_DIR (database
// grid.db and TLS files tls/server.{crt,key} there), which is how zoslab starts it.
// Plain HTTP is served only with --insecure-http.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zosnet/zosnet/internal/explorer"
	"github.com/zosnet/zosnet/internal/gridapi"
	"github.com/zosnet/zosnet/internal/identity"
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	Store        Store
	Log          *slog.Logger
	Verifier     *identity.Verifier   // nil: a new one with the default window
	MaxBody      int64                // bytes; default 1 MiB
	Rate         float64              // requests per second per client address; default 200
	Burst        int                  // default 400
	WatchTimeout time.Duration        // default long-poll timeout; default 30 s (max 120 s)
	Metrics      *prometheus.Registry // nil: a new registry
	// MaxInflight bounds the requests working in the store at once (default 64);
	// ShedWait is how long a request may wait for one of those slots before it is
	// refused with 503 and a Retry-After (default 200 ms). Parked long-polls hold none.
	MaxInflight int
	ShedWait    time.Duration
}

// Server serves the registry API. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	ver     *identity.Verifier
	hub     *hub
	limit   *limiter
	shed    *shedder
	mux     *http.ServeMux
	metrics *metrics
}

type handlerFunc func(r *http.Request, actor string, body []byte) (any, int, error)

// route is one API operation; the OpenAPI document must describe every route.
type route struct {
	method, pattern string
	signed          bool
	h               handlerFunc
	// free: the route never waits for a store slot (health); a long-poll takes its
	// slots itself, per read
	free, longPoll bool
}

// New creates a Server on cfg.Store and subscribes to its changes until ctx ends.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("registry: no store")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Verifier == nil {
		cfg.Verifier = &identity.Verifier{}
	}
	cfg.MaxBody = cmp0(cfg.MaxBody, 1<<20)
	cfg.Rate = cmp0(cfg.Rate, 200)
	cfg.Burst = cmp0(cfg.Burst, 400)
	cfg.WatchTimeout = cmp0(cfg.WatchTimeout, 30*time.Second)
	cfg.MaxInflight = cmp0(cfg.MaxInflight, 64)
	cfg.ShedWait = cmp0(cfg.ShedWait, 200*time.Millisecond)
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Log, ver: cfg.Verifier, hub: newHub(),
		limit: newLimiter(cfg.Rate, cfg.Burst), shed: newShedder(cfg.MaxInflight, cfg.ShedWait), mux: http.NewServeMux()}
	s.metrics = newMetrics(cfg.Metrics, s.hub, s.shed, s.store)
	if err := s.store.Subscribe(ctx, s.hub.publish); err != nil {
		return nil, fmt.Errorf("registry: subscribe: %w", err)
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	s.mux.Handle("GET "+explorer.Prefix, explorer.Handler()) // the read-only explorer over /v1
	s.mux.Handle("GET /{$}", http.RedirectHandler(explorer.Prefix, http.StatusFound))
	return s, nil
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) routes() []route {
	return []route{
		{method: "GET", pattern: "/v1/health", h: s.health, free: true},
		{method: "POST", pattern: "/v1/farms", signed: true, h: s.createFarm},
		{method: "GET", pattern: "/v1/farms", h: s.listFarms},
		{method: "GET", pattern: "/v1/farms/{farm}", h: s.getFarm},
		{method: "PUT", pattern: "/v1/farms/{farm}/egress-allow", signed: true, h: s.setFarmEgressAllow},
		{method: "POST", pattern: "/v1/nodes", signed: true, h: s.registerNode},
		{method: "GET", pattern: "/v1/nodes", h: s.listNodes},
		{method: "GET", pattern: "/v1/nodes/{node}", h: s.getNode},
		{method: "PUT", pattern: "/v1/nodes/{node}/facts", signed: true, h: s.putFacts},
		{method: "POST", pattern: "/v1/nodes/{node}/heartbeat", signed: true, h: s.heartbeat},
		{method: "PUT", pattern: "/v1/nodes/{node}/public-config", signed: true, h: s.setPublicConfig},
		{method: "DELETE", pattern: "/v1/nodes/{node}/public-config", signed: true, h: s.unsetPublicConfig},
		{method: "PUT", pattern: "/v1/nodes/{node}/networks/{network}/report", signed: true, h: s.reportNR},
		{method: "GET", pattern: "/v1/nodes/{node}/desired", h: s.desired, longPoll: true},
		{method: "POST", pattern: "/v1/networks", signed: true, h: s.createNetwork},
		{method: "GET", pattern: "/v1/networks", h: s.listNetworks},
		{method: "GET", pattern: "/v1/networks/{network}", h: s.getNetwork},
		{method: "GET", pattern: "/v1/networks/{network}/status", h: s.networkStatus},
		{method: "PUT", pattern: "/v1/networks/{network}", signed: true, h: s.updateNetwork},
		{method: "DELETE", pattern: "/v1/networks/{network}", signed: true, h: s.deleteNetwork},
		{method: "POST", pattern: "/v1/networks/{network}/workloads", signed: true, h: s.createWorkload},
		{method: "GET", pattern: "/v1/networks/{network}/workloads", h: s.listWorkloads},
		{method: "GET", pattern: "/v1/networks/{network}/workloads/{name}", h: s.getWorkload},
		{method: "DELETE", pattern: "/v1/networks/{network}/workloads/{name}", signed: true, h: s.deleteWorkload},
		{method: "PUT", pattern: "/v1/nodes/{node}/workloads/{network}/{name}/report", signed: true, h: s.reportWorkload},
		{method: "POST", pattern: "/v1/farms/{farm}/public-ips", signed: true, h: s.addPublicIPs},
		{method: "GET", pattern: "/v1/farms/{farm}/public-ips", h: s.listPublicIPs},
		{method: "DELETE", pattern: "/v1/farms/{farm}/public-ips/{ip}", signed: true, h: s.removePublicIP},
		{method: "POST", pattern: "/v1/exposures", signed: true, h: s.createExposure},
		{method: "GET", pattern: "/v1/exposures", h: s.listExposures},
		{method: "GET", pattern: "/v1/exposures/{exposure}", h: s.getExposure},
		{method: "DELETE", pattern: "/v1/exposures/{exposure}", signed: true, h: s.deleteExposure},
		{method: "PUT", pattern: "/v1/nodes/{node}/exposures/{exposure}/report", signed: true, h: s.reportExposure},
	}
}

// wrap applies rate and size limits, signature checks, metrics and JSON encoding.
func (s *Server) wrap(rt route) http.Handler {
	name := rt.method + " " + rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.serve(w, r, rt)
		s.metrics.observe(name, code, time.Since(start))
	})
}

// statusClientGone is recorded (never sent) for a request whose client went away
// before the answer, as nginx's 499: a node dropping its long-poll is no server error.
const statusClientGone = 499

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt route) int {
	if !s.limit.allow(clientIP(r), time.Now()) {
		return writeErr(w, &httpError{status: http.StatusTooManyRequests, msg: "rate limit exceeded: slow down", retryAfter: time.Second})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		if _, big := errors.AsType[*http.MaxBytesError](err); !big {
			return writeErr(w, &httpError{status: http.StatusBadRequest, field: "body", msg: "could not read the request body: " + err.Error()})
		}
		drainHTTP2(w, r)
		return writeErr(w, &httpError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("larger than %d bytes", s.cfg.MaxBody)})
	}
	// the body is read first (bounded): an HTTP/2 client then gets the 503, not a reset
	if !rt.free && !rt.longPoll {
		release, wait, err := s.shed.acquire(r.Context())
		if err != nil {
			return statusClientGone
		}
		if release == nil {
			return writeErr(w, overloaded(wait))
		}
		defer release()
	}
	var actor string
	if rt.signed {
		if actor, err = s.verify(r, body); err != nil {
			return writeErr(w, err)
		}
	}
	v, code, err := rt.h(r, actor, body)
	if err != nil {
		if r.Context().Err() != nil { // the client went away: nobody to answer
			s.log.Debug("registry: client went away", "route", rt.pattern, "err", err)
			return statusClientGone
		}
		if st, _, _ := statusOf(err); st >= 500 && st != http.StatusServiceUnavailable {
			s.log.Error("registry: request failed", "route", rt.pattern, "err", err)
		}
		return writeErr(w, err)
	}
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
	return code
}

// Bounds of drainHTTP2.
const (
	drainMax  = 64 << 20
	drainTime = 10 * time.Second
)

// drainHTTP2 reads and discards the rest of an HTTP/2 request body (at most drainMax
// bytes, for at most drainTime) before an early answer. Without it the server answers
// while the client still sends, then resets the stream, and clients that see the reset
// before they read the answer lose its message (issue 19: 5 of 10 tries). HTTP/1.1
// needs none: the connection is closed after the answer.
func drainHTTP2(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 || r.ContentLength > drainMax {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, drainMax))
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// verify checks the signature, freshness and replays (in this process, and through the
// store for registries sharing a database).
func (s *Server) verify(r *http.Request, body []byte) (string, error) {
	actor, err := s.ver.Verify(r, body)
	if err != nil {
		return "", &httpError{status: http.StatusUnauthorized, msg: err.Error()}
	}
	g, ok := s.store.(interface {
		markSeen(ctx context.Context, sig string, until time.Time) (bool, error)
	})
	if !ok {
		return actor, nil
	}
	fresh, err := g.markSeen(r.Context(), r.Header.Get(identity.HeaderSignature), time.Now().Add(3*identity.DefaultWindow))
	if err != nil {
		return "", err
	}
	if !fresh {
		return "", &httpError{status: http.StatusUnauthorized, msg: identity.ErrReplay.Error() + " (seen by another registry instance)"}
	}
	return actor, nil
}

// httpError is an error of the HTTP layer itself (limits, signatures), with its status.
type httpError struct {
	status     int
	field, msg string
	retryAfter time.Duration // sent as Retry-After (whole seconds) when > 0
}

// overloaded is the 503 of a shed request.
func overloaded(wait time.Duration) *httpError {
	return &httpError{status: http.StatusServiceUnavailable, retryAfter: wait,
		msg: fmt.Sprintf("registry busy (many nodes reconnecting): retry in %s", wait)}
}

func (e *httpError) Error() string { return e.msg }

// kindStatus is the HTTP status of each kind of store error: the one place where
// the store's domain errors meet HTTP.
var kindStatus = map[error]int{
	ErrInvalid:   http.StatusBadRequest,
	ErrNotFound:  http.StatusNotFound,
	ErrForbidden: http.StatusForbidden,
	ErrConflict:  http.StatusConflict,
}

// statusOf maps err to an HTTP status, field and message; unknown errors are 500.
func statusOf(err error) (int, string, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.field, he.msg
	}
	var e *Error
	if errors.As(err, &e) {
		if st, ok := kindStatus[e.Kind]; ok {
			return st, e.Field, e.Msg
		}
	}
	var fe *gridapi.FieldError
	if errors.As(err, &fe) {
		return http.StatusBadRequest, fe.Field, fe.Reason
	}
	return http.StatusInternalServerError, "", "internal error"
}

func writeErr(w http.ResponseWriter, err error) int {
	st, field, msg := statusOf(err)
	var he *httpError
	if errors.As(err, &he) && he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((he.retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	_ = json.NewEncoder(w).Encode(gridapi.Error{Error: msg, Field: field})
	return st
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decode decodes a JSON body strictly (unknown fields and trailing data refused).
func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("body", "invalid JSON: %v", err)
	}
	if dec.More() {
		return invalid("body", "trailing data after the JSON value")
	}
	return nil
}

// nodeID parses the {node} path parameter of write routes (numeric ids only).
func nodeID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("node"), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("node", "not a node id: %q", r.PathValue("node"))
	}
	return id, nil
}
