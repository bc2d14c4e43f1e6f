// Package explorer is the grid explorer the registry serves at /explorer/: a read-only
// web page, with no login, of the grid's farms and nodes — state, last heartbeat,
// public or hidden and why, NICs and addresses, gateway domains — with search, filters
// and a page per node. It is static files embedded in the binary (no CDN; it works
// offline); the page reads everything from the registry's API v1 (GET /v1/farms,
// /v1/nodes, /v1/nodes/{id}), the same API the CLI uses, so it shows nothing the API
// does not.
package explorer

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assetFS embed.FS

var files, _ = fs.Sub(assetFS, "assets")

// Prefix is where the registry mounts Handler.
const Prefix = "/explorer/"

// Handler serves the explorer's files under Prefix, with a content security policy that
// allows only this origin.
func Handler() http.Handler {
	fsrv := http.StripPrefix(Prefix, http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		fsrv.ServeHTTP(w, r)
	})
}
