package webui

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed assets
var assetFS embed.FS

// assets are the page's files: no CDN, nothing fetched from elsewhere.
var assets, _ = fs.Sub(assetFS, "assets")

var pageTmpl = template.Must(template.ParseFS(assetFS, "assets/index.html"))

func assetServer() http.Handler { return http.FileServerFS(assets) }

// page serves index.html with the session token in a meta tag (the page's only secret).
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, map[string]string{"Token": s.token, "Registry": s.cfg.Registry})
}
