package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/ui"
)

// TestBrowser drives every page of the UI against one silt server and one
// Chromium, in the order a user would.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs Chromium and a silt server")
	}
	b := newBrowser(t)
	s := seed(t, startSilt(t))
	start := time.Now()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *browser, seeded)
	}{
		{"QueryHelpers", testQueryHelpers},
		{"Search", testSearch},
		{"HighlightAndFacets", testHighlightAndFacets},
		{"Zoom", testZoom},
		{"QueryBar", testQueryBar},
		{"DetailsContextPermalink", testDetailsContextPermalink},
		{"LiveTail", testLiveTail},
		{"Topics", testTopics},
		{"Cluster", testCluster},
		{"Safety", testSafety},
		{"Tenants", testTenants},
		{"NarrowScreen", testNarrow},
	} {
		if !t.Run(tc.name, func(t *testing.T) { tc.fn(t, b, s) }) {
			break // later steps build on the page state of earlier ones
		}
	}
	t.Logf("browser steps took %s", time.Since(start).Round(time.Millisecond))
	if n := b.dialogCount(); n > 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}

func testLiveTail(t *testing.T, b *browser, s seeded) {
	b.navigate(t, s.base+"/ui/tail?"+url.Values{"query": {`{app="tail"}`}}.Encode())
	b.wait(t, `document.querySelector('.tail-state').textContent === 'live'`, `document.querySelector('.tail-state').textContent`)
	labels := map[string]string{"app": "tail", "level": "warn"}
	push(t, s.base, labels, []line{{time.Now(), "tail line one"}})
	b.wait(t, `[...document.querySelectorAll('.vrow .msg')].some(e => e.textContent === 'tail line one')`, `document.querySelector('.tail-page').innerText`)

	// Paused, new lines are held back and counted; resume shows them.
	b.click(t, ".tail-pause")
	push(t, s.base, labels, []line{{time.Now(), "tail line two"}})
	b.wait(t, `document.querySelector('.tail-count').textContent.includes('paused, 1 new')`, `document.querySelector('.tail-count').textContent`)
	if eval[bool](t, b, `[...document.querySelectorAll('.vrow .msg')].some(e => e.textContent === 'tail line two')`) {
		t.Error("a line shows while paused")
	}
	b.click(t, ".tail-pause")
	b.wait(t, `[...document.querySelectorAll('.vrow .msg')].some(e => e.textContent === 'tail line two')`, `document.querySelector('.tail-page').innerText`)
	b.wait(t, `/^[1-9][0-9.]* lines\/s$|^0\.[1-9] lines\/s$/.test(document.querySelector('.tail-rate').textContent)`, `document.querySelector('.tail-rate').textContent`)
	b.screenshot(t, "tail")
	b.click(t, ".tail-clear")
	b.wait(t, `document.querySelectorAll('.vrow').length === 0`, `document.querySelector('.tail-count').textContent`)
}

// partitionOf returns the partition of topic logs whose records include
// text, and that partition's end offset.
func partitionOf(t *testing.T, base, text string) (int, int64) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/topics/logs")
	if err != nil {
		t.Fatal(err)
	}
	var topic struct {
		Partitions []struct {
			Partition int   `json:"partition"`
			End       int64 `json:"end_offset"`
		} `json:"partitions"`
	}
	err = json.NewDecoder(resp.Body).Decode(&topic)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range topic.Partitions {
		r, err := http.Get(fmt.Sprintf("%s/api/v1/topics/logs/partitions/%d/records?offset=0&limit=10000", base, p.Partition))
		if err != nil {
			t.Fatal(err)
		}
		var recs struct {
			Records []struct{ Value string } `json:"records"`
		}
		err = json.NewDecoder(r.Body).Decode(&recs)
		r.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs.Records {
			if strings.Contains(rec.Value, text) {
				return p.Partition, p.End
			}
		}
	}
	t.Fatalf("no partition holds %q", text)
	return 0, 0
}

func testTopics(t *testing.T, b *browser, s seeded) {
	b.navigate(t, s.base+"/ui/topics")
	b.wait(t, `document.querySelector('tr.topic-row[data-topic="logs"]')`, `document.body.innerText`)
	if n := eval[int](t, b, `document.querySelectorAll('tr.partition-row[data-topic="logs"]').length`); n != 4 {
		t.Errorf("logs shows %d partitions, want 4", n)
	}
	b.screenshot(t, "topics")
	// Replay: from an offset forward, then a page backward and forward again.
	p, end := partitionOf(t, s.base, "GET /index.html")
	if end < 60 {
		t.Fatalf("partition %d has %d records; the test needs 60", p, end)
	}
	b.click(t, `tr.partition-row[data-topic="logs"][data-partition="`+fmt.Sprint(p)+`"] a.browse`)
	b.wait(t, `document.querySelector('.records-table')`, `document.body.innerText`)
	b.run(t, setValue(".replay-bar .offset", "40"), setValue(".replay-bar .limit", "20"))
	b.click(t, ".replay-bar .go")
	b.wait(t, `document.querySelector('tr.record')?.dataset.offset === '40'`, `document.querySelector('.topics-body').innerText.slice(0, 300)`)
	if n := eval[int](t, b, `document.querySelectorAll('tr.record').length`); n != 20 {
		t.Errorf("%d records shown, want 20", n)
	}
	if !strings.Contains(eval[string](t, b, `location.search`), "offset=40") {
		t.Error("the URL does not hold the replay offset")
	}
	b.click(t, ".replay-bar .older")
	b.wait(t, `document.querySelector('tr.record')?.dataset.offset === '20'`, `document.querySelector('.topics-body').innerText.slice(0, 300)`)
	b.click(t, ".replay-bar .newer")
	b.wait(t, `document.querySelector('tr.record')?.dataset.offset === '40'`, `document.querySelector('.topics-body').innerText.slice(0, 300)`)
	b.screenshot(t, "topics-replay")
	// A record's offset links to it in context.
	b.click(t, `tr.record[data-offset="45"] a.off`)
	b.wait(t, `document.querySelector('.ctx-row.target')?.dataset.offset === '45'`, `document.body.innerText.slice(0, 300)`)
}

func testCluster(t *testing.T, b *browser, s seeded) {
	b.navigate(t, s.base+"/ui/cluster")
	b.wait(t, `document.querySelector('tr.node')`, `document.body.innerText`)
	text := eval[string](t, b, `document.querySelector('tr.node').innerText`)
	for _, want := range []string{"ACTIVE", strings.TrimPrefix(s.base, "http://"), "logs/0", "metrics/3"} {
		if !strings.Contains(text, want) {
			t.Errorf("cluster node row %q lacks %q", text, want)
		}
	}
	b.screenshot(t, "cluster")
}

// hostile is a log line that would run script if any part of the UI put log
// text into HTML, with ANSI colour escapes and 100 KB of text.
var hostile = `<img src=x onerror=alert(1)> <script>alert(1)</script> <svg onload=alert(2)> ` +
	"\x1b[31mred\x1b[0m " + `" onmouseover="alert(3)` + " " + strings.Repeat("0123456789", 10_000)

func testSafety(t *testing.T, b *browser, s seeded) {
	push(t, s.base, map[string]string{"app": "evil", "note": `<b onclick=alert(4)>x</b>`}, []line{{time.Now().Add(-time.Minute), hostile}})
	b.navigate(t, searchURL(s.base, `{app="evil"}`))
	waitLoaded(t, b, 1)
	b.click(t, `.vrow[data-index="0"]`)
	b.wait(t, `!document.querySelector('.details').hidden`, describePage)
	b.click(t, ".btn-context")
	b.wait(t, `document.querySelector('.dialog .ctx-row.target')`, `document.querySelector('.overlay').innerText`)
	// Every view of the line shows it as text.
	for _, sel := range []string{".vrow .msg", ".details .line-full", ".ctx-row.target .msg"} {
		got := eval[string](t, b, fmt.Sprintf(`document.querySelector(%q).textContent`, sel))
		for _, want := range []string{"<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "\u241b[31mred"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s does not show %q as text", sel, want)
			}
		}
	}
	if got := eval[int](t, b, `document.querySelector('.details .line-full').textContent.length`); got < 100_000 {
		t.Errorf("details show %d characters of the 100 KB line", got)
	}
	if n := eval[int](t, b, `document.querySelectorAll('img, svg, b, iframe, object, embed').length`); n != 0 {
		t.Errorf("%d elements made from log text", n)
	}
	if n := eval[int](t, b, `document.querySelectorAll('script').length`); n != 2 {
		t.Errorf("%d script elements, want the page's own 2", n)
	}
	if n := eval[int](t, b, `document.querySelectorAll('[onerror], [onload], [onclick], [onmouseover]').length`); n != 0 {
		t.Errorf("%d elements with event handler attributes", n)
	}
	b.screenshot(t, "safety")
	if n := b.dialogCount(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
	// The CSP stops inline script even if markup ever got in.
	ran := eval[bool](t, b, `(() => {
		const s = document.createElement('script');
		s.textContent = 'window.inlineRan = true';
		document.body.append(s);
		s.remove();
		return window.inlineRan === true;
	})()`)
	if ran {
		t.Error("an inline script ran: the Content-Security-Policy does not forbid it")
	}
	resp, err := http.Get(s.base + ui.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func testNarrow(t *testing.T, b *browser, s seeded) {
	b.run(t, emulate(390, 844))
	defer b.run(t, emulate(1280, 800))
	b.navigate(t, searchURL(s.base, `{app="web"}`))
	waitLoaded(t, b, 200)
	if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the page is %d px wide on a 390 px screen", w)
	}
	b.screenshot(t, "search-narrow")
	b.click(t, `.vrow[data-index="0"]`)
	b.wait(t, `!document.querySelector('.details').hidden`, describePage)
	if w := eval[int](t, b, `document.querySelector('.details').getBoundingClientRect().width`); w != 390 {
		t.Errorf("details are %d px wide, want the whole 390 px screen", w)
	}
}
