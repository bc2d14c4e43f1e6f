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
	"os"
	"path/filepath"

	"github.com/zosnet/zosnet/internal/resource"
	"github.com/zosnet/zosnet/internal/workload"
)

// Backend is what the API serves; networkd's daemon implements it. Methods are called
// concurrently and must be safe for that.
type Backend interface {
	Status() Status
	ListNRs() []NR
	GetNR(id string) (NR, error)
	PutNR(ctx context.Context, s resource.Spec) (NR, error)
	DeleteNR(ctx context.Context, id string) error
	ListWorkloads() []Workload
	AddWorkload(ctx context.Context, s workload.Spec) (Workload, error)
	RemoveWorkload(ctx context.Context, name string) error
}

// Server serves a Backend.
type Server struct {
	B   Backend
	Log *slog.Logger
	// Extra handlers mounted as-is (e.g. "/metrics").
	Extra map[string]http.Handler
	// AllowUID is a uid allowed to change things besides root (0: root only).
	AllowUID int
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { reply(w, s.B.Status(), nil) })
	m.HandleFunc("GET /v1/nrs", func(w http.ResponseWriter, r *http.Request) { reply(w, s.B.ListNRs(), nil) })
	m.HandleFunc("GET /v1/nrs/{id}", func(w http.ResponseWriter, r *http.Request) {
		nr, err := s.B.GetNR(r.PathValue("id"))
		reply(w, nr, err)
	})
	m.HandleFunc("PUT /v1/nrs/{id}", s.root(s.putNR))
	m.HandleFunc("DELETE /v1/nrs/{id}", s.root(func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, s.B.DeleteNR(r.Context(), r.PathValue("id")))
	}))
	m.HandleFunc("GET /v1/workloads", func(w http.ResponseWriter, r *http.Request) { reply(w, s.B.ListWorkloads(), nil) })
	m.HandleFunc("PUT /v1/workloads/{name}", s.root(s.putWorkload))
	m.HandleFunc("DELETE /v1/workloads/{name}", s.root(func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, s.B.RemoveWorkload(r.Context(), r.PathValue("name")))
	}))
	for p, h := range s.Extra {
		m.Handle(p, h)
	}
	return m
}

func (s *Server) putNR(w http.ResponseWriter, r *http.Request) {
	var spec resource.Spec
	if err := decode(r, &spec); err != nil {
		reply(w, nil, err)
		return
	}
	if spec.NetworkID != r.PathValue("id") {
		reply(w, nil, fmt.Errorf("%w: network_id %q differs from the path's %q", ErrInvalid, spec.NetworkID, r.PathValue("id")))
		return
	}
	nr, err := s.B.PutNR(r.Context(), spec)
	reply(w, nr, err)
}

func (s *Server) putWorkload(w http.ResponseWriter, r *http.Request) {
	var spec workload.Spec
	if err := decode(r, &spec); err != nil {
		reply(w, nil, err)
		return
	}
	if spec.Name != r.PathValue("name") {
		reply(w, nil, fmt.Errorf("%w: name %q differs from the path's %q", ErrInvalid, spec.Name, r.PathValue("name")))
		return
	}
	info, err := s.B.AddWorkload(r.Context(), spec)
	reply(w, info, err)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	return nil
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalid), errors.Is(err, resource.ErrInvalid), errors.Is(err, workload.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(statusOf(err))
		json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
		return
	}
	json.NewEncoder(w).Encode(v)
}

// Listen removes a stale socket at path, listens there (mode 0666: reads are open,
// changes are checked per request) and returns the listener.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l, nil
}

// Serve serves the API on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ConnContext: withPeerCred}
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
