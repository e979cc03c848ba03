package ui

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		name, method, path string
		header             [2]string
		status             int
		contentType, body  string
	}{
		{"root", "GET", "/ui/", [2]string{}, 200, "text/html; charset=utf-8", `<script type="module" src="/ui/js/main.js">`},
		{"without slash", "GET", "/ui", [2]string{}, 200, "text/html; charset=utf-8", "<title>silt</title>"},
		{"search page", "GET", "/ui/search?query=%7Bapp%3D%22x%22%7D", [2]string{}, 200, "text/html; charset=utf-8", "<title>silt</title>"},
		{"partition page", "GET", "/ui/topics/orders.v1", [2]string{}, 200, "text/html; charset=utf-8", "<title>silt</title>"},
		{"permalink page", "GET", "/ui/line?topic=logs&partition=0&offset=5", [2]string{}, 200, "text/html; charset=utf-8", "<title>silt</title>"},
		{"module", "GET", "/ui/js/main.js", [2]string{}, 200, "text/javascript; charset=utf-8", "import"},
		{"stylesheet", "GET", "/ui/css/silt.css", [2]string{}, 200, "text/css; charset=utf-8", ":root"},
		{"uPlot", "GET", "/ui/vendor/uPlot.iife.min.js", [2]string{}, 200, "text/javascript; charset=utf-8", "uPlot"},
		{"revalidated", "GET", "/ui/js/main.js", [2]string{"If-None-Match", etags["js/main.js"]}, 304, "", ""},
		{"head", "HEAD", "/ui/js/dom.js", [2]string{}, 200, "text/javascript; charset=utf-8", ""},
		{"missing asset", "GET", "/ui/js/nope.js", [2]string{}, 404, "text/plain; charset=utf-8", "not found"},
		{"unknown page", "GET", "/ui/admin", [2]string{}, 404, "text/plain; charset=utf-8", "not found"},
		{"index by name", "GET", "/ui/index.html", [2]string{}, 404, "text/plain; charset=utf-8", "not found"},
		{"escape attempt", "GET", "/ui/../ui.go", [2]string{}, 404, "text/plain; charset=utf-8", "not found"},
		{"post", "POST", "/ui/search", [2]string{}, 405, "text/plain; charset=utf-8", "method not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.contentType || !strings.Contains(string(body), tc.body) {
				t.Errorf("%s %s: %d %q %.200q; want %d %q containing %q",
					tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), body, tc.status, tc.contentType, tc.body)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); csp != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
}

// TestContentSecurityPolicy pins the rules that keep log text from running:
// no inline script, no eval, scripts only from silt itself.
func TestContentSecurityPolicy(t *testing.T) {
	directives := map[string]string{}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for name, want := range map[string]string{
		"default-src": "'none'", "script-src": "'self'", "object-src": "'none'", "base-uri": "'none'", "frame-ancestors": "'none'",
	} {
		if directives[name] != want {
			t.Errorf("%s is %q, want %q", name, directives[name], want)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe-") {
		t.Error("the policy allows something unsafe")
	}
}

// TestNoHTMLSinks reads every embedded script: none may parse strings as
// HTML or code, so log text can only ever become text. index.html has no
// inline script, style or event handler attribute (the CSP would block them).
func TestNoHTMLSinks(t *testing.T) {
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser|setAttribute\(['"]on`)
	n := 0
	err := fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		src, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		n++
		if m := sinks.Find(src); m != nil {
			t.Errorf("%s uses %s", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("checked only %d scripts", n)
	}
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAll(index, -1) {
		if !strings.Contains(string(m), ` src="/ui/`) {
			t.Errorf("index.html has an inline script: %s", m)
		}
	}
	if m := regexp.MustCompile(`(?i)\son\w+=|\sstyle=|<style`).Find(index); m != nil {
		t.Errorf("index.html has inline %q", m)
	}
}

func TestWantsHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": true,
		"TEXT/HTML":        true,
		"application/json": false,
		"application/vnd.elasticsearch+json; compatible-with=8": false,
		"*/*": false,
		"":    false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		if got := WantsHTML(r); got != want {
			t.Errorf("Accept %q: %v, want %v", accept, got, want)
		}
	}
}

func TestRoot(t *testing.T) {
	es := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"tagline":"You Know, for Search"}`)
	})
	h := Root(es)
	for _, tc := range []struct {
		accept   string
		status   int
		location string
	}{
		{"text/html,*/*;q=0.8", http.StatusFound, Prefix},
		{"application/json", http.StatusOK, ""},
		{"", http.StatusOK, ""},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", tc.accept)
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Header().Get("Location") != tc.location || rec.Header().Get("Vary") != "Accept" {
			t.Errorf("Accept %q: %d %v", tc.accept, rec.Code, rec.Header())
		}
		if tc.status == http.StatusOK && !strings.Contains(rec.Body.String(), "You Know, for Search") {
			t.Errorf("Accept %q: not the Elasticsearch answer: %s", tc.accept, rec.Body)
		}
	}
}

func TestTenantFromQuery(t *testing.T) {
	var got string
	h := TenantFromQuery(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("X-Scope-OrgID") }))
	for _, tc := range []struct{ header, query, want string }{
		{"", "team-a", "team-a"},
		{"proxy-set", "team-a", "proxy-set"},
		{"", "", ""},
	} {
		req := httptest.NewRequest("GET", "/loki/api/v1/tail?X-Scope-OrgID="+tc.query, nil)
		if tc.header != "" {
			req.Header.Set("X-Scope-OrgID", tc.header)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got != tc.want {
			t.Errorf("header %q, query %q: tenant %q, want %q", tc.header, tc.query, got, tc.want)
		}
	}
}
