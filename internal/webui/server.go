// Package webui is `zosnet ui`: a web page served on the user's own machine (loopback
// only) that shows the user's networks as a live graph (package graph), the pair table,
// members and devices, and does what a user does often: create a network, add or remove
// a node, add an access device (its wg-quick file and a QR code). It talks to the
// registry with the user's key, like the CLI (package usernet).
//
// Security: the server listens on a loopback address only; every request needs the
// session token printed in the URL (from the URL once, then an HttpOnly SameSite=Strict
// cookie, or the X-Zosnet-Token header); requests from another Origin, another site
// (Sec-Fetch-Site) or for another Host (DNS rebinding) are refused; changes
// (POST/DELETE) need the token in the header and this server's own Origin. The page
// holds no secret but the session token: a device's wg-quick file stays in this
// process, behind a one-time random URL, for a few minutes.
//
// Live updates: one poller per network (the registry's network status every Refresh,
// one request whatever the number of open views) pushes to every view with
// server-sent events.
package webui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zosnet/zosnet/internal/gridapi"
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	Client   *gridapi.Client // the registry, with the user's key for writes
	Owner    string          // the user's key id: whose networks are listed
	Registry string          // the registry's URL, shown on the page
	Log      *slog.Logger
	Refresh  time.Duration // how often a shown network's status is read; default 2 s
	// DeviceWait bounds how long adding a device waits for the access node; default 60 s.
	DeviceWait time.Duration
	// Token is the session token; empty means a new random one (tests set it).
	Token string
}

// Server is the UI's HTTP server. Create it with New, then Serve a listener from
// Listen. Safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	token   string
	mu      sync.Mutex
	origin  string // http://127.0.0.1:PORT once serving
	port    string
	live    *hub
	devices *deviceStore
}

// New creates a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("webui: no registry client")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.DeviceWait <= 0 {
		cfg.DeviceWait = time.Minute
	}
	if cfg.Token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cfg.Token = base64.RawURLEncoding.EncodeToString(b)
	}
	s := &Server{cfg: cfg, log: cfg.Log, token: cfg.Token, devices: newDeviceStore(10 * time.Minute)}
	s.live = newHub(s.fetch, cfg.Refresh, cfg.Log)
	return s, nil
}

// Listen opens the server's TCP listener on addr, which must be a loopback address
// (127.0.0.0/8, ::1 or localhost; port 0 picks a free port), and makes its address the
// one Origin and Host the server accepts. Call it once, before Serve.
func (s *Server) Listen(addr string) (net.Listener, error) {
	ln, err := listenLoopback(addr)
	if err != nil {
		return nil, err
	}
	if err := s.bind(ln.Addr()); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func listenLoopback(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("--listen %q: the UI listens on a loopback address only (127.0.0.1 or ::1)", addr)
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

// URL is the address to open, with the session token.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.origin + "/?token=" + s.token
}

// Serve serves on ln (from Listen) until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bind records the address the server answers on: its Origin and Host checks.
func (s *Server) bind(a net.Addr) error {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsLoopback() {
		return fmt.Errorf("webui: %s is not a loopback TCP address", a)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.port = strconv.Itoa(ta.Port)
	s.origin = "http://" + net.JoinHostPort(ta.IP.String(), s.port)
	return nil
}

// Handler returns the HTTP handler (every route behind the guard).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", assetServer()))
	mux.HandleFunc("GET /api/session", s.session)
	mux.HandleFunc("GET /api/nodes", s.nodes)
	mux.HandleFunc("GET /api/networks", s.networks)
	mux.HandleFunc("POST /api/networks", s.createNetwork)
	mux.HandleFunc("GET /api/networks/{id}", s.snapshot)
	mux.HandleFunc("GET /api/networks/{id}/events", s.events)
	mux.HandleFunc("POST /api/networks/{id}/nodes", s.addNode)
	mux.HandleFunc("DELETE /api/networks/{id}/nodes/{node}", s.removeNode)
	mux.HandleFunc("POST /api/networks/{id}/devices", s.addDevice)
	mux.HandleFunc("GET /api/devices/{ref}/{file}", s.deviceFile)
	return s.guard(mux)
}

// cookieName is per port: browsers share cookies between the ports of one host.
func (s *Server) cookieName() string { return "zosnet_ui_" + s.port }

// guard refuses requests for another Host, from another Origin or site, and without
// the session token; changes need the token in the header and this Origin.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		origin, port := s.origin, s.port
		s.mu.Unlock()
		setSecurityHeaders(w)
		if !hostAllowed(r.Host, port) {
			refuse(w, http.StatusForbidden, "host", "requests for host "+strconv.Quote(r.Host)+" are refused: open the URL zosnet ui printed")
			return
		}
		o := r.Header.Get("Origin")
		if o != "" && o != origin {
			refuse(w, http.StatusForbidden, "origin", "cross-origin request from "+strconv.Quote(o)+" refused")
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			refuse(w, http.StatusForbidden, "origin", "request from another site refused")
			return
		}
		header := r.Header.Get("X-Zosnet-Token")
		query := r.URL.Query().Get("token")
		var cookie string
		if c, err := r.Cookie(s.cookieName()); err == nil {
			cookie = c.Value
		}
		if !s.tokenOK(header) && !s.tokenOK(query) && !s.tokenOK(cookie) {
			refuse(w, http.StatusUnauthorized, "token", "missing or wrong session token: open the URL zosnet ui printed")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && (!s.tokenOK(header) || o != origin) {
			refuse(w, http.StatusForbidden, "token", "changes need the session token header and this page's Origin")
			return
		}
		if s.tokenOK(query) && r.URL.Path == "/" {
			http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) tokenOK(t string) bool {
	return t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1
}

// hostAllowed accepts the loopback names of this server's port only.
func hostAllowed(host, port string) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil || p != port {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}
