package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/zosnet/zosnet/internal/nodeapi"
)

// Backend is what the API serves; networkd's daemon implements it. Methods are called
// concurrently and must be safe for that. Every method gets the request's context: a
// change whose caller has gone must change nothing. Errors wrap the nodeapi sentinels
// (anything else is a 500).
type Backend interface {
	Status(ctx context.Context) (nodeapi.Status, error)
	ListNRs(ctx context.Context) ([]nodeapi.NR, error)
	GetNR(ctx context.Context, id string) (nodeapi.NR, error)
	PutNR(ctx context.Context, s nodeapi.NRSpec) (nodeapi.NR, error)
	DeleteNR(ctx context.Context, id string) error
	ListWorkloads(ctx context.Context) ([]nodeapi.Workload, error)
	AddWorkload(ctx context.Context, s nodeapi.WorkloadSpec) (nodeapi.Workload, error)
	RemoveWorkload(ctx context.Context, name string) error
	NodeStatus(ctx context.Context) (nodeapi.NodeStatus, error)
	PublicConfig(ctx context.Context) (*nodeapi.PublicConfig, error)
	// SetPublicConfig sets, changes or (nil) removes the public config.
	SetPublicConfig(ctx context.Context, cfg *nodeapi.PublicConfig) error
	// SetRegistryStatus keeps provisiond's report of the registry connection (shown in
	// NodeStatus).
	SetRegistryStatus(ctx context.Context, st nodeapi.RegistryStatus) error
	// EgressAllow returns the farmer's egress allow list (empty when none).
	EgressAllow(ctx context.Context) ([]nodeapi.EgressAllow, error)
	// SetEgressAllow replaces the allow list (empty: none); it applies at once.
	SetEgressAllow(ctx context.Context, list []nodeapi.EgressAllow) error
}

// Server serves a Backend.
type Server struct {
	B Backend
	// Log receives one line per failed request (Warn for server errors, Debug for refused
	// requests); nil discards.
	Log *slog.Logger
	// Metrics, when set, is served at GET /metrics.
	Metrics http.Handler
	// Profiles, when set, is served at /debug/pprof/ to root only (heap, goroutine and
	// CPU profiles of the daemon: net/http/pprof). Only on the unix socket, never on TCP.
	Profiles http.Handler
	// AllowUID is a uid allowed to change things besides root (0: root only).
	AllowUID int
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.B.Status(r.Context())
		s.reply(w, r, st, err)
	})
	m.HandleFunc("GET /v1/nrs", func(w http.ResponseWriter, r *http.Request) {
		nrs, err := s.B.ListNRs(r.Context())
		s.reply(w, r, nrs, err)
	})
	m.HandleFunc("GET /v1/nrs/{id}", func(w http.ResponseWriter, r *http.Request) {
		nr, err := s.B.GetNR(r.Context(), r.PathValue("id"))
		s.reply(w, r, nr, err)
	})
	m.HandleFunc("PUT /v1/nrs/{id}", s.root(s.putNR))
	m.HandleFunc("DELETE /v1/nrs/{id}", s.root(func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, r, struct{}{}, s.B.DeleteNR(r.Context(), r.PathValue("id")))
	}))
	m.HandleFunc("GET /v1/workloads", func(w http.ResponseWriter, r *http.Request) {
		ws, err := s.B.ListWorkloads(r.Context())
		s.reply(w, r, ws, err)
	})
	m.HandleFunc("PUT /v1/workloads/{name}", s.root(s.putWorkload))
	m.HandleFunc("DELETE /v1/workloads/{name}", s.root(func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, r, struct{}{}, s.B.RemoveWorkload(r.Context(), r.PathValue("name")))
	}))
	s.uplinkRoutes(m)
	s.gatewayRoutes(m)
	if s.Metrics != nil {
		m.Handle("GET /metrics", s.Metrics)
	}
	if s.Profiles != nil {
		m.Handle("GET /debug/pprof/", s.root(s.Profiles.ServeHTTP))
	}
	return m
}

// uplinkRoutes: GET /v1/node, GET|PUT|DELETE /v1/public-config, GET|PUT /v1/egress-allow,
// PUT /v1/registry.
func (s *Server) uplinkRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/node", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.B.NodeStatus(r.Context())
		s.reply(w, r, st, err)
	})
	m.HandleFunc("GET /v1/public-config", func(w http.ResponseWriter, r *http.Request) {
		cfg, err := s.B.PublicConfig(r.Context())
		s.reply(w, r, nodeapi.PublicConfigState{Config: cfg}, err)
	})
	m.HandleFunc("PUT /v1/public-config", s.root(func(w http.ResponseWriter, r *http.Request) {
		var cfg nodeapi.PublicConfig
		if err := decode(w, r, &cfg); err != nil {
			s.reply(w, r, nil, err)
			return
		}
		s.reply(w, r, nodeapi.PublicConfigState{Config: &cfg}, s.B.SetPublicConfig(r.Context(), &cfg))
	}))
	m.HandleFunc("DELETE /v1/public-config", s.root(func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, r, nodeapi.PublicConfigState{}, s.B.SetPublicConfig(r.Context(), nil))
	}))
	m.HandleFunc("GET /v1/egress-allow", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.B.EgressAllow(r.Context())
		s.reply(w, r, nodeapi.EgressAllowList{Allow: list}, err)
	})
	m.HandleFunc("PUT /v1/egress-allow", s.root(func(w http.ResponseWriter, r *http.Request) {
		var body nodeapi.EgressAllowList
		if err := decode(w, r, &body); err != nil {
			s.reply(w, r, nil, err)
			return
		}
		if body.Allow == nil {
			body.Allow = []nodeapi.EgressAllow{}
		}
		s.reply(w, r, body, s.B.SetEgressAllow(r.Context(), body.Allow))
	}))
	m.HandleFunc("PUT /v1/registry", s.root(func(w http.ResponseWriter, r *http.Request) {
		var st nodeapi.RegistryStatus
		if err := decode(w, r, &st); err != nil {
			s.reply(w, r, nil, err)
			return
		}
		if err := st.Validate(); err != nil {
			s.reply(w, r, nil, err)
			return
		}
		s.reply(w, r, st, s.B.SetRegistryStatus(r.Context(), st))
	}))
}

func (s *Server) putNR(w http.ResponseWriter, r *http.Request) {
	var spec nodeapi.NRSpec
	if err := decode(w, r, &spec); err != nil {
		s.reply(w, r, nil, err)
		return
	}
	if spec.NetworkID != r.PathValue("id") {
		s.reply(w, r, nil, fmt.Errorf("%w: network_id: %q differs from the path's %q", nodeapi.ErrInvalid, spec.NetworkID, r.PathValue("id")))
		return
	}
	nr, err := s.B.PutNR(r.Context(), spec)
	s.reply(w, r, nr, err)
}

func (s *Server) putWorkload(w http.ResponseWriter, r *http.Request) {
	var spec nodeapi.WorkloadSpec
	if err := decode(w, r, &spec); err != nil {
		s.reply(w, r, nil, err)
		return
	}
	if spec.Name != r.PathValue("name") {
		s.reply(w, r, nil, fmt.Errorf("%w: name: %q differs from the path's %q", nodeapi.ErrInvalid, spec.Name, r.PathValue("name")))
		return
	}
	info, err := s.B.AddWorkload(r.Context(), spec)
	s.reply(w, r, info, err)
}

// MaxBody is the largest request body the API reads.
const MaxBody = 1 << 20

// errTooLarge marks a body over MaxBody (413).
var errTooLarge = fmt.Errorf("%w: body: larger than %d bytes", nodeapi.ErrInvalid, MaxBody)

// decode reads a body of at most MaxBody bytes and decodes it strictly
// (nodeapi.Decode: errors name the field).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if _, big := errors.AsType[*http.MaxBytesError](err); big {
		return errTooLarge
	} else if err != nil {
		return fmt.Errorf("%w: body: could not read it: %v", nodeapi.ErrInvalid, err)
	}
	return nodeapi.Decode(b, v)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, nodeapi.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, nodeapi.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, nodeapi.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, nodeapi.ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// reply writes v as JSON, or err with its status. A failed write means the caller
// has gone; there is no one left to tell, so it is only logged.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		if s.Log != nil { // a refused request is the caller's business; a failure is ours
			lv := slog.LevelDebug
			if statusOf(err) >= http.StatusInternalServerError {
				lv = slog.LevelWarn
			}
			s.Log.Log(r.Context(), lv, "local api", "method", r.Method, "path", r.URL.Path, "status", statusOf(err), "err", err)
		}
		w.WriteHeader(statusOf(err))
		v = errorBody{Error: err.Error()}
	}
	if werr := json.NewEncoder(w).Encode(v); werr != nil && s.Log != nil {
		s.Log.Debug("local api: write answer", "path", r.URL.Path, "err", werr)
	}
}

// Serve serves the API on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	// idle connections are closed after a minute: a client that never closes its own
	// would otherwise hold a goroutine and a buffer each in the daemon
	srv := &http.Server{Handler: s.Handler(), ConnContext: withPeerCred, IdleTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// root wraps a changing handler: only uid 0 (or AllowUID) may call it.
func (s *Server) root(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uid, ok := peerUID(r.Context())
		if !ok {
			s.reply(w, r, nil, fmt.Errorf("%w (the caller's uid is unknown)", nodeapi.ErrForbidden))
			return
		}
		if uid != 0 && uid != s.AllowUID {
			s.reply(w, r, nil, fmt.Errorf("%w (peer uid %d)", nodeapi.ErrForbidden, uid))
			return
		}
		h(w, r)
	}
}
