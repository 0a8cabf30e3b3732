package agent

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/grapevine-sd/grapevine/api"
)

// uiFiles is the web console (docs/ui.md): static HTML, CSS and JavaScript
// embedded in the binary, no build step and nothing fetched from elsewhere,
// so it works on an air-gapped host. The page holds no data: it reads the
// HTTP API with the token the user enters (sessionStorage, sent as a Bearer
// header), so the files themselves are served without a token.
//
//go:embed ui
var uiFiles embed.FS

// uiTypes are the content types of the console's files, by extension.
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// uiCSP allows the page its own files and its own API only.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ui serves the console's page (GET /ui).
func (h *httpServer) ui(w http.ResponseWriter, r *http.Request) { serveUIFile(w, "index.html") }

// uiFile serves one of the console's files (GET /ui/{file...}); "" is the page.
func (h *httpServer) uiFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "" {
		name = "index.html"
	}
	serveUIFile(w, name)
}

func serveUIFile(w http.ResponseWriter, name string) {
	ctype, ok := uiTypes[path.Ext(name)]
	if !ok || strings.Contains(name, "..") || !fs.ValidPath(name) {
		api.WriteError(w, http.StatusNotFound, "no such file")
		return
	}
	b, err := uiFiles.ReadFile("ui/" + name)
	if err != nil {
		api.WriteError(w, http.StatusNotFound, "no such file")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Security-Policy", uiCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
