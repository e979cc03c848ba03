// Package ui serves silt's web UI: plain JavaScript modules, CSS and the
// vendored uPlot chart library, embedded in the binary with go:embed, so the
// server needs no Node build step. The UI is a single page under Prefix that
// talks to the native and Loki HTTP APIs of the same server.
//
// Every UI response carries a strict Content-Security-Policy (CSP): scripts
// only from this origin, no inline script, no eval, no plugins, no framing.
// Log text is set with textContent only, never parsed as HTML (see
// static/js/dom.js), so a log line can show markup but never run it.
//
// GET / is shared with Elasticsearch clients, which probe it for a version
// before they send _bulk requests: Root sends browsers (requests that accept
// text/html) to the UI and everything else to the Elasticsearch answer.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Prefix is where the UI lives; every page and asset is under it.
const Prefix = "/ui/"

// ContentSecurityPolicy is sent with every UI response. connect-src 'self'
// covers the same-origin WebSocket of live tail.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

//go:embed static
var embedded embed.FS

// assets is the static directory itself.
var assets = func() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}()

// etags holds a strong ETag for every embedded asset.
var etags = func() map[string]string {
	m := map[string]string{}
	err := fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	if err != nil {
		panic(err) // embedded files are always readable
	}
	return m
}()

// pages are the first path segments of the UI's pages (static/js/main.js
// routes them); "" is the search page.
var pages = map[string]bool{"": true, "search": true, "tail": true, "topics": true, "cluster": true, "line": true}

// Handler serves the UI under Prefix: an asset when the path names one,
// index.html for every page's URL (/ui/search?query=..., /ui/topics/logs), so
// that pages can be loaded, bookmarked and reloaded, and 404 otherwise.
func Handler() http.Handler {
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), strings.TrimSuffix(Prefix, "/"))
		name = strings.TrimPrefix(name, "/")
		first, _, _ := strings.Cut(name, "/")
		switch {
		case pages[first]:
			serveIndex(w, r)
		case etags[name] == "" || name == "index.html":
			http.NotFound(w, r)
		default:
			// Assets are embedded in the binary, which may change them:
			// browsers revalidate by ETag (embedded files have no
			// modification time).
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("ETag", etags[name])
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			files.ServeHTTP(w, r2)
		}
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request) {
	page, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		http.Error(w, "UI index missing from the binary", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(page)
	}
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// WantsHTML reports whether a request comes from a browser navigating to a
// page: its Accept header names text/html. Elasticsearch clients send
// application/json (or Elastic's vendor types), curl sends */*.
func WantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}

// Root answers GET /: browsers are redirected to the UI, every other client
// gets other (the Elasticsearch root document that bulk clients probe).
func Root(other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		if !WantsHTML(r) {
			other.ServeHTTP(w, r)
			return
		}
		setSecurityHeaders(w.Header())
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
}

// TenantFromQuery lets a browser name its tenant in the X-Scope-OrgID query
// parameter where it cannot set headers: a WebSocket handshake (live tail).
// A header, when present, always wins, so a proxy that sets the tenant header
// keeps control of it.
func TenantFromQuery(next http.Handler) http.Handler {
	const name = "X-Scope-OrgID"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(name) == "" {
			if v := r.URL.Query().Get(name); v != "" {
				r = r.Clone(r.Context())
				r.Header.Set(name, v)
			}
		}
		next.ServeHTTP(w, r)
	})
}
