package ui_test

// The browser tests run the real silt binary (built once per test process)
// on a free port with its own data directory, push logs to it over HTTP, and
// drive Debian's Chromium through the DevTools protocol with chromedp. They
// skip when chromium is missing, and fail under CI=true, where
// scripts/test-deps.sh installs it.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/siltlog/silt/segments/testtool"
)

// buildSilt builds cmd/silt once per test process.
func buildSilt(t *testing.T) string { return testtool.BuildSilt(t) }

// startSilt runs `silt server` on free ports with a fresh data directory and
// returns its base URL; the process is killed at the end of the test.
func startSilt(t *testing.T, flags ...string) string {
	t.Helper()
	args := append([]string{"server", "-server.http-listen-address=127.0.0.1:0", "-syslog.listen-address=127.0.0.1:0",
		"-kafka.listen-address=127.0.0.1:0", "-storage.data-dir=" + t.TempDir(), "-log.format=json"}, flags...)
	srv := exec.Command(buildSilt(t), args...)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "silt is ready" {
				ready <- l.Addr
			}
		}
	}()
	select {
	case addr := <-ready:
		return "http://" + addr
	case <-time.After(20 * time.Second):
		t.Fatal("silt not ready after 20s")
	}
	return ""
}

// line is one log line to push.
type line struct {
	ts   time.Time
	text string
}

// push sends lines of one stream with Loki's JSON push API.
func push(t *testing.T, base string, labels map[string]string, lines []line) {
	t.Helper()
	pushAs(t, base, "", labels, lines)
}

// pushAs is push for a tenant (X-Scope-OrgID; none when "").
func pushAs(t *testing.T, base, tenant string, labels map[string]string, lines []line) {
	t.Helper()
	values := make([][2]string, len(lines))
	for i, l := range lines {
		values[i] = [2]string{strconv.FormatInt(l.ts.UnixNano(), 10), l.text}
	}
	body, err := json.Marshal(map[string]any{"streams": []any{map[string]any{"stream": labels, "values": values}}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/loki/api/v1/push", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("push: status %d", resp.StatusCode)
	}
}

// browser is one Chromium tab and what the page did that a test must see:
// JavaScript dialogs (alert) and uncaught exceptions.
type browser struct {
	ctx context.Context

	mu         sync.Mutex
	dialogs    []string // guarded by mu
	exceptions []string // guarded by mu
}

// newBrowser starts headless Chromium with a fresh profile for the test, in
// a 1280x800 window.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := testtool.Require(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	dialogs := make(chan struct{}, 16)
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.dialogs = append(b.dialogs, ev.Message)
			select {
			case dialogs <- struct{}{}:
			default:
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber))
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// A dialog blocks the page: dismiss it so the test can report it.
	go func() {
		for range dialogs {
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught JavaScript exception: %s", e)
		}
	})
	b.run(t, chromedp.EmulateViewport(1280, 800))
	return b
}

// run runs actions with a time limit.
func (b *browser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript expression until it is truthy; on timeout it
// fails with what describe (another expression) says about the page.
func (b *browser) wait(t *testing.T, expr, describe string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		state := "?"
		if describe != "" {
			state = eval[string](t, b, describe)
		}
		t.Fatalf("waiting for %s: %v; page: %s", expr, err, state)
	}
}

func (b *browser) navigate(t *testing.T, url string) {
	t.Helper()
	b.run(t, chromedp.Navigate(url))
}

func (b *browser) click(t *testing.T, css string) {
	t.Helper()
	b.wait(t, fmt.Sprintf(`document.querySelector(%q)`, css), `document.body.innerText.slice(0, 500)`)
	b.run(t, chromedp.Click(chromedp.CSS(css)))
}

func (b *browser) dialogCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.dialogs)
}

// screenshot saves a PNG of the page as name in the screenshot directory
// (SILT_UI_SCREENSHOTS, else a directory under the system temp dir that the
// test prints) so that people and CI can look at each page.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := screenshotDir(t)
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	shotsOnce sync.Once
	shotsDir  string
)

func screenshotDir(t *testing.T) string {
	shotsOnce.Do(func() {
		shotsDir = os.Getenv("SILT_UI_SCREENSHOTS")
		if shotsDir == "" {
			shotsDir = filepath.Join(os.TempDir(), "silt-ui-screenshots")
		}
		if err := os.MkdirAll(shotsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "ui: screenshots in %s\n", shotsDir)
	})
	return shotsDir
}

func setValue(css, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(css), v)
}

func emulate(w, h int64) chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(w, h)
}

// press types one key as a keyboard does: a keyDown that carries the text (so
// that a handler's preventDefault keeps it out of a text field), then keyUp.
func (b *browser) press(t *testing.T, key, code string, keyCode int64) {
	t.Helper()
	text := key
	switch {
	case key == "Enter":
		text = "\r"
	case len(key) > 1:
		text = ""
	}
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
		p := input.DispatchKeyEventParams{Type: typ, Key: key, Code: code, WindowsVirtualKeyCode: keyCode, NativeVirtualKeyCode: keyCode}
		if typ == input.DispatchKeyEventTypeKeyDown {
			p.Text = text
		}
		if _, err := chromedp.Call(b.ctx, input.DispatchKeyEvent, p); err != nil {
			t.Fatalf("press %s: %v", key, err)
		}
	}
}
