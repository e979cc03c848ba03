package ui_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// testZoom drags across the histogram: the range narrows to the selection,
// the URL holds it as absolute times, and the hits are recounted.
func testZoom(t *testing.T, b *browser, s seeded) {
	b.navigate(t, searchURL(s.base, `{app="web"}`))
	waitLoaded(t, b, 200)
	b.wait(t, `document.querySelector('.hist').dataset.total === '350'`, `JSON.stringify(document.querySelector('.hist').dataset)`)
	box := eval[[]float64](t, b, `(() => { const r = document.querySelector('.hist .u-over').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	y := box[1] + box[3]/2
	x1, x2 := box[0]+box[2]*0.75, box[0]+box[2]*0.95
	b.run(t,
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x1, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x1+x2)/2, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x2, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x2, y, chromedp.ButtonLeft),
	)
	b.wait(t, `/from=\d+&to=\d+/.test(location.search)`, `location.search`)
	b.wait(t, `Number(document.querySelector('.hist').dataset.total) > 0 && Number(document.querySelector('.hist').dataset.total) < 350`,
		`JSON.stringify(document.querySelector('.hist').dataset)`)
	if v := eval[string](t, b, `document.querySelector('select.range').value`); v != "custom" {
		t.Errorf("range select shows %q after a zoom", v)
	}
	// Back returns to the relative range.
	eval[bool](t, b, `history.back(), true`)
	b.wait(t, `document.querySelector('select.range').value === 'now-2h'`, `location.search`)
}

// testQueryBar covers the mode switch, autocomplete and the dark theme.
func testQueryBar(t *testing.T, b *browser, s seeded) {
	b.navigate(t, searchURL(s.base, `{app="web"}`))
	waitLoaded(t, b, 200)
	// Autocomplete: label names inside the selector, then values.
	eval[bool](t, b, `(() => { const q = document.querySelector('[data-query-input]'); q.value = ''; q.focus(); return true; })()`)
	b.run(t, chromedp.KeyEvent("{ho"))
	b.wait(t, `[...document.querySelectorAll('.ac li')].some(li => li.textContent === 'host')`, `document.querySelector('.ac').outerHTML`)
	b.press(t, "Enter", "Enter", 13)
	b.wait(t, `document.querySelector('[data-query-input]').value === '{host="'`, `document.querySelector('[data-query-input]').value`)
	b.wait(t, `[...document.querySelectorAll('.ac li')].map(li => li.textContent).join() === 'a,b'`, `document.querySelector('.ac').outerHTML`)
	b.press(t, "ArrowDown", "ArrowDown", 40)
	b.press(t, "Tab", "Tab", 9)
	b.run(t, chromedp.KeyEvent("}"))
	b.press(t, "Enter", "Enter", 13) // list closed: runs the query
	waitLoaded(t, b, webError)
	if q := eval[string](t, b, `document.querySelector('[data-query-input]').value`); q != `{host="b"}` {
		t.Errorf("query after autocomplete: %q", q)
	}
	// The query-string mode sends mode=querystring and keeps it in the URL.
	b.run(t, setValue("select.mode", "querystring"))
	eval[bool](t, b, `document.querySelector('select.mode').dispatchEvent(new Event('change')), true`)
	b.wait(t, `location.search.includes('mode=querystring')`, `location.search`)
	b.wait(t, `performance.getEntriesByType('resource').some(e => e.name.includes('/api/v1/search') && e.name.includes('mode=querystring'))`, "")
	// Dark theme.
	b.navigate(t, searchURL(s.base, `{app="web"}`))
	waitLoaded(t, b, 200)
	b.click(t, "#theme")
	b.wait(t, `document.documentElement.dataset.theme === 'dark'`, "")
	if bg := eval[string](t, b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(21, 23, 28)" {
		t.Errorf("dark theme background %s", bg)
	}
	b.wait(t, `document.querySelector('.hist').dataset.total === '350'`, "")
	b.screenshot(t, "search-dark")
	b.click(t, "#theme")
	b.wait(t, `document.documentElement.dataset.theme === 'light'`, "")
}

// testTenants runs a server that requires X-Scope-OrgID: the tenant
// selector shows, the URL carries the tenant, and each tenant sees its own
// lines, in search and in live tail.
func testTenants(t *testing.T, b *browser, _ seeded) {
	base := startSilt(t, "-auth.enabled")
	pushAs(t, base, "team-a", map[string]string{"app": "tenancy"}, []line{{time.Now().Add(-time.Minute), "hello from team-a"}})
	pushAs(t, base, "team-b", map[string]string{"app": "tenancy"}, []line{{time.Now().Add(-time.Minute), "hello from team-b"}})
	q := url.Values{"query": {`{app="tenancy"}`}, "tenant": {"team-a"}}.Encode()
	b.navigate(t, base+"/ui/search?"+q)
	waitLoaded(t, b, 1)
	if got := eval[string](t, b, `document.querySelector('.vrow .msg').textContent`); got != "hello from team-a" {
		t.Errorf("team-a sees %q", got)
	}
	b.wait(t, `!document.querySelector('#tenant-box').hidden`, "")
	// Choosing another tenant reloads the page's data for it.
	b.run(t, setValue("#tenant", "team-b"))
	eval[bool](t, b, `document.querySelector('#tenant').dispatchEvent(new Event('change')), true`)
	b.wait(t, `location.search.includes('tenant=team-b')`, `location.search`)
	b.wait(t, `document.querySelector('.vrow .msg')?.textContent === 'hello from team-b'`, describePage)
	// Live tail sends the tenant in the WebSocket URL.
	b.navigate(t, base+"/ui/tail?"+q)
	b.wait(t, `document.querySelector('.tail-state').textContent === 'live'`, `document.querySelector('.tail-state').textContent`)
	pushAs(t, base, "team-b", map[string]string{"app": "tenancy"}, []line{{time.Now(), "tail for team-b"}})
	pushAs(t, base, "team-a", map[string]string{"app": "tenancy"}, []line{{time.Now(), "tail for team-a"}})
	b.wait(t, `[...document.querySelectorAll('.vrow .msg')].some(e => e.textContent === 'tail for team-a')`, `document.querySelector('.tail-page').innerText`)
	if strings.Contains(eval[string](t, b, `document.querySelector('.tail-page').innerText`), "team-b") {
		t.Error("team-a's tail shows team-b's line")
	}
}

// testQueryHelpers runs static/js/query.js in the page: the filters the +/-
// and facet buttons add, and the ranges search terms highlight.
func testQueryHelpers(t *testing.T, b *browser, s seeded) {
	b.navigate(t, s.base+"/ui/cluster")
	for _, tc := range []struct{ expr, want string }{
		{`m.filterQuery('logql', '{app="x"} |= "a}"', 'label', 'host', 'b', true)`, `{app="x", host="b"} |= "a}"`},
		{`m.filterQuery('logql', '{a="}"}', 'label', 'h', 'v"q', false)`, `{a="}", h!="v\"q"}`},
		{`m.filterQuery('logql', '{app="x"}', 'metadata', 'trace_id', 'abc', true)`, `{app="x"} | trace_id="abc"`},
		{`m.filterQuery('logql', '{app="x"}', 'json', 'user_id', 'u1', false)`, `{app="x"} | json | user_id!="u1"`},
		{`m.filterQuery('logql', '{app="x"} | json', 'json', 'ms', '5', true)`, `{app="x"} | json | ms="5"`},
		{`m.filterQuery('querystring', 'error', 'label', 'host', 'a b', true)`, `error +host:"a b"`},
		{`m.filterQuery('querystring', '', 'label', 'host', 'a', false)`, `-host:"a"`},
		{`JSON.stringify(m.highlighter('logql', '{a="b"} |= "err" |~ "t.o" != "x"')('an err and too x'))`, `[[3,6],[11,14]]`},
		{`JSON.stringify(m.highlighter('querystring', 'error -debug host:a "disk full"')('Error: disk full, debug'))`, `[[0,5],[7,16]]`},
		{`JSON.stringify(m.highlighter('logql', '{a="b"} |= "aa"')('aaaa'))`, `[[0,4]]`},
		{`JSON.stringify(m.parseFields('level=info msg="a b" x=1'))`, `{"parser":"logfmt","fields":{"level":"info","msg":"a b","x":"1"}}`},
		{`JSON.stringify(m.parseFields('{"a":{"b":1},"c":"d"}'))`, `{"parser":"json","fields":{"a_b":"1","c":"d"}}`},
		{`JSON.stringify(m.parseFields('plain text'))`, `null`},
	} {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`import('/ui/js/query.js').then((m) => `+tc.expr+`)`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}
