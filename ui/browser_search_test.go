package ui_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// seeded is what seed pushed.
type seeded struct {
	base   string
	newest string // the newest line of {app="web"}
}

const (
	webInfo  = 300 // {app="web", host="a", level="info"}
	webError = 50  // {app="web", host="b", level="error"}, each with "needle"
	apiWarn  = 20  // {app="api", host="a", level="warn"}, JSON lines
)

// seed pushes three streams over the last 50 minutes.
func seed(t *testing.T, base string) seeded {
	t.Helper()
	start := time.Now().Add(-50 * time.Minute)
	var info, errs, api []line
	for i := 0; i < webInfo; i++ {
		info = append(info, line{start.Add(time.Duration(i) * 9 * time.Second), fmt.Sprintf("GET /index.html id=%d status=200 took=%dms", i, i%40)})
	}
	for i := 0; i < webError; i++ {
		errs = append(errs, line{start.Add(time.Duration(i)*50*time.Second + time.Second), fmt.Sprintf("request failed id=e%d needle=yes", i)})
	}
	for i := 0; i < apiWarn; i++ {
		api = append(api, line{start.Add(time.Duration(i) * 2 * time.Minute), fmt.Sprintf(`{"msg":"slow query","ms":%d,"user":{"id":"u%d"}}`, 100+i, i%3)})
	}
	push(t, base, map[string]string{"app": "web", "host": "a", "level": "info"}, info)
	push(t, base, map[string]string{"app": "web", "host": "b", "level": "error"}, errs)
	push(t, base, map[string]string{"app": "api", "host": "a", "level": "warn"}, api)
	return seeded{base: base, newest: info[len(info)-1].text}
}

func searchURL(base, query string) string {
	return base + "/ui/search?" + url.Values{"query": {query}, "from": {"now-2h"}, "to": {"now"}}.Encode()
}

// describePage is a JavaScript expression that tells a failing test what the
// search page shows.
const describePage = `JSON.stringify({url: location.href, status: document.querySelector('.result-status')?.textContent,
  error: document.querySelector('.error:not([hidden])')?.textContent, rows: document.querySelectorAll('.vrow').length,
  query: document.querySelector('[data-query-input]')?.value})`

// waitLoaded waits until the search status says n lines are loaded and the
// list has drawn its rows (on the next animation frame).
func waitLoaded(t *testing.T, b *browser, n int) {
	t.Helper()
	b.wait(t, fmt.Sprintf(`document.querySelector('.result-status')?.textContent.startsWith(%q) &&
		document.querySelector('.vrow[data-index="0"] .msg')`, fmt.Sprintf("%d lines loaded", n)), describePage)
}

func testSearch(t *testing.T, b *browser, s seeded) {
	b.navigate(t, searchURL(s.base, `{app="web"}`))
	waitLoaded(t, b, 200)
	// Newest first: the first row is the newest line; levels are coloured.
	first := eval[string](t, b, `document.querySelector('.vrow[data-index="0"] .msg').textContent`)
	if first != s.newest {
		t.Errorf("first row %q, want the newest line %q", first, s.newest)
	}
	if n := eval[int](t, b, `document.querySelectorAll('.vrow.lvl-info, .vrow.lvl-error').length`); n == 0 {
		t.Error("no row has a level class")
	}
	// The histogram counts every hit and draws bars.
	b.wait(t, `document.querySelector('.hist').dataset.total === '350'`, `JSON.stringify(document.querySelector('.hist').dataset)`)
	if n := eval[int](t, b, `Number(document.querySelector('.hist').dataset.buckets)`); n < 5 {
		t.Errorf("histogram has %d non-empty buckets, want the 50 minutes spread over many", n)
	}
	painted := eval[int](t, b, `(() => {
		const c = document.querySelector('.hist canvas');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
		return n;
	})()`)
	if painted < 500 {
		t.Errorf("histogram canvas has %d painted pixels; want bars", painted)
	}
	if !strings.Contains(eval[string](t, b, `document.querySelector('.summary').textContent`), "350 hits") {
		t.Errorf("summary does not say 350 hits")
	}
	b.screenshot(t, "search")

	// Load older: the next page by cursor brings the rest.
	b.click(t, ".load-older")
	waitLoaded(t, b, webInfo+webError)
	if eval[bool](t, b, `!document.querySelector('.load-older').hidden`) {
		t.Error("load older still offered after the last page")
	}
}

func testHighlightAndFacets(t *testing.T, b *browser, s seeded) {
	b.navigate(t, searchURL(s.base, `{app="web"} |= "needle"`))
	waitLoaded(t, b, webError)
	if n := eval[int](t, b, `[...document.querySelectorAll('.vrow mark')].filter(m => m.textContent === 'needle').length`); n == 0 {
		t.Error("search term not highlighted")
	}
	// Clicking a facet value filters on it: the query gains the matcher.
	b.navigate(t, searchURL(s.base, `{app="web"}`))
	waitLoaded(t, b, 200)
	b.click(t, `.facet[data-field="host"] .facet-value[data-value="b"]`)
	waitLoaded(t, b, webError)
	q := eval[string](t, b, `document.querySelector('[data-query-input]').value`)
	if q != `{app="web", host="b"}` {
		t.Errorf("query after facet click: %q", q)
	}
	if !strings.Contains(eval[string](t, b, `location.search`), url.QueryEscape(`host="b"`)) {
		t.Error("the URL does not hold the filtered query")
	}
	// The back button returns to the unfiltered query.
	eval[bool](t, b, `history.back(), true`)
	waitLoaded(t, b, 200)
}

func testDetailsContextPermalink(t *testing.T, b *browser, s seeded) {
	b.navigate(t, searchURL(s.base, `{app="api"}`))
	waitLoaded(t, b, apiWarn)
	// Expand a line: labels, parsed JSON fields, +/- buttons.
	b.click(t, `.vrow[data-index="0"]`)
	b.wait(t, `!document.querySelector('.details').hidden`, describePage)
	details := eval[string](t, b, `document.querySelector('.details').innerText`)
	for _, want := range []string{"Labels", "app", "api", "Parsed fields (json)", "user_id", "slow query"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
	line := eval[string](t, b, `document.querySelector('.details .line-full').textContent`)
	if row := eval[string](t, b, `document.querySelector('.vrow.selected .msg').textContent`); line != row {
		t.Errorf("details show %q for the row %q", line, row)
	}
	b.screenshot(t, "search-details")
	// Keyboard: Esc closes the details, / focuses the query.
	b.press(t, "Escape", "Escape", 27)
	b.wait(t, `document.querySelector('.details').hidden`, describePage)
	b.press(t, "/", "Slash", 191)
	b.wait(t, `document.activeElement === document.querySelector('[data-query-input]')`, `document.activeElement.outerHTML`)
	if q := eval[string](t, b, `document.querySelector('[data-query-input]').value`); q != `{app="api"}` {
		t.Errorf("after /, the query is %q", q)
	}

	// Context: the dialog shows the line among its stream's neighbours.
	b.click(t, `.vrow[data-index="3"]`)
	line = eval[string](t, b, `document.querySelector('.details .line-full').textContent`)
	b.click(t, ".btn-context")
	b.wait(t, `document.querySelector('.dialog .ctx-row.target')`, `document.querySelector('.overlay').innerText`)
	if got := eval[string](t, b, `document.querySelector('.ctx-row.target .msg').textContent`); got != line {
		t.Errorf("context target %q, want %q", got, line)
	}
	if n := eval[int](t, b, `document.querySelectorAll('.dialog .ctx-row').length`); n != apiWarn {
		t.Errorf("context shows %d lines of the stream, want all %d", n, apiWarn)
	}
	b.screenshot(t, "search-context")
	b.press(t, "Escape", "Escape", 27)
	b.wait(t, `document.querySelector('.overlay').hidden`, "")

	// +: filter on a parsed field.
	b.click(t, `.details .fields[data-kind="json"] button[data-filter="include"][data-field="ms"]`)
	b.wait(t, `document.querySelector('[data-query-input]').value.includes('| json | ms=')`, describePage)
	waitLoaded(t, b, 1)

	// Permalink: tenant/topic/partition/offset, and it opens the line in context.
	b.navigate(t, searchURL(s.base, `{app="api"}`))
	waitLoaded(t, b, apiWarn)
	b.click(t, `.vrow[data-index="5"]`)
	line = eval[string](t, b, `document.querySelector('.details .line-full').textContent`)
	b.click(t, ".btn-permalink")
	b.wait(t, `document.querySelector('.details a.permalink')`, `document.querySelector('.permalink-out').textContent`)
	link := eval[string](t, b, `document.querySelector('.details a.permalink').href`)
	for _, p := range []string{"/ui/line?", "topic=logs", "partition=", "offset="} {
		if !strings.Contains(link, p) {
			t.Errorf("permalink %q lacks %q", link, p)
		}
	}
	b.navigate(t, link)
	b.wait(t, `document.querySelector('.ctx-row.target')`, `document.body.innerText`)
	if got := eval[string](t, b, `document.querySelector('.ctx-row.target .msg').textContent`); got != line {
		t.Errorf("permalink opens %q, want %q", got, line)
	}
	b.screenshot(t, "permalink")
}
