// The search page: query bar (LogQL or query string), time range, hits
// histogram, facets, the virtualised result list (newest first, loading older
// pages by cursor), the details panel, context and permalinks. The URL holds
// query, mode, from and to.

import { h, fmtInt, download, copyText, labelString } from './dom.js';
import { get } from './api.js';
import { navigate, pageURL, setParams } from './app.js';
import { VirtualList } from './vlist.js';
import { Histogram } from './histogram.js';
import { renderFacets } from './facets.js';
import { renderRow, renderDetails, ndjson, plainText } from './results.js';
import { ContextView } from './context.js';
import { Autocomplete } from './autocomplete.js';
import { highlighter, filterQuery } from './query.js';
import { relativeRanges, toMs, toNs, describe, localInput, stepFor } from './timerange.js';

const firstPage = 200;
const olderPage = 5000; // the API's most

export function mount(main, _parts, p) {
  const page = new SearchPage(main);
  page.apply(p);
  return page;
}

class SearchPage {
  constructor(main) {
    this.gen = 0;
    this.entries = [];
    this.cursor = '';
    this.selected = -1;
    this.highlight = () => [];
    this.build(main);
  }

  build(main) {
    this.mode = h('select', { class: 'mode', title: 'Query language', on: { change: () => this.submit() } },
      h('option', { value: 'logql', text: 'LogQL' }), h('option', { value: 'querystring', text: 'Query string' }));
    this.input = h('input', { class: 'query', type: 'text', spellcheck: false, autocomplete: 'off',
      placeholder: '{app="api"} |= "error"   (press / to focus, Enter to run)', attrs: { 'data-query-input': '', 'aria-label': 'Query' } });
    this.range = h('select', { class: 'range', title: 'Time range', on: { change: () => this.rangeChanged() } },
      relativeRanges.map(([v, label]) => h('option', { value: v, text: label })), h('option', { value: 'custom', text: 'Custom range…' }));
    this.fromIn = h('input', { type: 'datetime-local', step: 1, class: 'from', attrs: { 'aria-label': 'From' } });
    this.toIn = h('input', { type: 'datetime-local', step: 1, class: 'to', attrs: { 'aria-label': 'To' } });
    this.custom = h('span', { class: 'custom', hidden: true }, this.fromIn, '→', this.toIn);
    const form = h('form', { class: 'querybar', on: { submit: (ev) => { ev.preventDefault(); this.submit(); } } },
      this.mode, h('div', { class: 'query-wrap' }, this.input), this.range, this.custom,
      h('button', { type: 'submit', class: 'primary run', text: 'Run' }));
    this.autocomplete = new Autocomplete(this.input, () => this.mode.value, () => this.rangeNs());
    this.summary = h('div', { class: 'summary' });
    this.histEl = h('div', { class: 'hist', attrs: { role: 'img', 'aria-label': 'Hits over time' } });
    this.hist = new Histogram(this.histEl, (from, to) => this.zoom(from, to));
    this.error = h('div', { class: 'error', hidden: true, attrs: { role: 'alert' } });
    this.facetsEl = h('aside', { class: 'facets' });
    this.listEl = h('div', { class: 'results-list' });
    this.status = h('span', { class: 'result-status muted' });
    this.olderBtn = h('button', { class: 'load-older', text: 'Load older', hidden: true, on: { click: () => this.loadOlder() } });
    const toolbar = h('div', { class: 'results-bar' }, this.status, h('span', { class: 'spacer' }),
      h('button', { class: 'dl-ndjson', text: 'NDJSON', title: 'Download the loaded entries as NDJSON', on: { click: () => download('silt-search.ndjson', 'application/x-ndjson', ndjson(this.entries)) } }),
      h('button', { class: 'dl-text', text: 'Text', title: 'Download the loaded lines as text', on: { click: () => download('silt-search.log', 'text/plain', plainText(this.entries)) } }),
      h('a', { class: 'btn tail-link', text: 'Live tail', href: '#', on: { click: (ev) => { ev.preventDefault(); navigate(pageURL('/ui/tail', { query: this.input.value })); } } }));
    this.details = h('aside', { class: 'details', hidden: true, attrs: { 'aria-label': 'Line details' } });
    this.dialog = h('div', { class: 'overlay', hidden: true, on: { click: (ev) => { if (ev.target === this.dialog) this.escape(); } } });
    main.replaceChildren(h('div', { class: 'page search-page' }, form, this.error,
      h('div', { class: 'hist-wrap' }, this.summary, this.histEl),
      h('div', { class: 'search-body' }, this.facetsEl,
        h('section', { class: 'results' }, toolbar, this.listEl, this.olderBtn), this.details),
      this.dialog));
    this.list = new VirtualList(this.listEl, {
      rowHeight: 22,
      render: (el, e) => renderRow(el, e, this.highlight),
      onClick: (e, i) => this.openDetails(i),
      selected: (i) => i === this.selected,
      onNearEnd: () => { if (this.autoOlder) this.loadOlder(); },
    });
  }

  // apply takes the state from URL parameters and runs the query.
  apply(p) {
    this.mode.value = p.mode === 'querystring' ? 'querystring' : 'logql';
    this.input.value = p.query || '';
    this.from = p.from || 'now-1h';
    this.to = p.to || 'now';
    this.showRange();
    if (this.input.value) this.run();
    else this.suggestQuery();
  }

  update(_parts, p) { this.apply(p); }

  // suggestQuery fills an empty query with a selector of the first label.
  async suggestQuery() {
    try {
      const [start, end] = this.rangeNs();
      const res = await get('/loki/api/v1/labels', { start, end });
      const name = (res.data || []).find((l) => l !== '__name__');
      if (name && !this.input.value) {
        this.input.value = `{${name}=~".+"}`;
        this.submit(true);
      }
    } catch { /* no labels yet */ }
    this.input.focus();
  }

  showRange() {
    const known = relativeRanges.some(([v]) => v === this.from) && this.to === 'now';
    this.range.value = known ? this.from : 'custom';
    this.custom.hidden = known;
    this.fromIn.value = localInput(new Date(toMs(this.from)));
    this.toIn.value = localInput(new Date(toMs(this.to)));
  }

  rangeChanged() {
    if (this.range.value === 'custom') {
      this.custom.hidden = false;
      this.fromIn.focus();
      return;
    }
    this.submit();
  }

  rangeNs() {
    const now = Date.now();
    return [toNs(this.from, now), toNs(this.to, now)];
  }

  // submit reads the form into the URL (a new history step) and runs.
  submit(replace = false) {
    if (this.range.value === 'custom') {
      this.from = String(Date.parse(this.fromIn.value) || toMs(this.from));
      this.to = String(Date.parse(this.toIn.value) || toMs(this.to));
    } else {
      this.from = this.range.value;
      this.to = 'now';
    }
    setParams({ query: this.input.value.trim(), mode: this.mode.value, from: this.from, to: this.to }, replace);
    this.showRange();
    this.run();
  }

  zoom(fromMs, toMs) {
    this.from = String(fromMs);
    this.to = String(toMs);
    this.range.value = 'custom';
    this.fromIn.value = localInput(new Date(fromMs));
    this.toIn.value = localInput(new Date(toMs));
    this.submit();
  }

  applyFilter(kind, name, value, include) {
    this.input.value = filterQuery(this.mode.value, this.input.value, kind, name, value, include);
    this.closeDetails();
    this.submit();
  }

  base() {
    const [start, end] = this.rangeNs();
    return { query: this.input.value.trim(), mode: this.mode.value, start, end };
  }

  run() {
    const gen = ++this.gen;
    if (this.abort) this.abort.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const base = this.base();
    this.query = base;
    this.highlight = highlighter(base.mode, base.query);
    this.error.hidden = true;
    this.entries = [];
    this.cursor = '';
    this.selected = -1;
    this.autoOlder = false;
    this.closeDetails();
    this.list.setItems(this.entries);
    this.olderBtn.hidden = true;
    this.status.textContent = 'Searching…';
    const fromMs = Number(BigInt(base.start) / 1000000n), toMsV = Number(BigInt(base.end) / 1000000n);
    const step = stepFor(toMsV - fromMs);
    this.summary.textContent = `${describe(this.from, this.to)} · counting hits…`;
    const fail = (err) => { if (gen === this.gen && err.name !== 'AbortError') this.showError(err); };
    // The lines first: they are what the user waits for. Counting hits and
    // facets reads every match, so they start once the first page is in and
    // do not compete with it for the server's CPU.
    const rest = () => {
      if (gen === this.gen) this.runStats(gen, base, fromMs, toMsV, step, signal, fail);
    };
    get('/api/v1/search', { ...base, limit: firstPage }, signal).then((res) => {
      if (gen !== this.gen) return;
      this.addPage(res);
      // When the first result is on screen (ms since navigation): the list
      // draws in the animation frame it asked for before this one.
      requestAnimationFrame(() => {
        if (!window.siltFirstResultAt && this.entries.length > 0) window.siltFirstResultAt = performance.now();
      });
      rest();
    }).catch((err) => { fail(err); rest(); });
  }

  runStats(gen, base, fromMs, toMsV, step, signal, fail) {
    get('/api/v1/hits', { ...base, step: `${step / 1000}s`, by: 'level' }, signal).then((res) => {
      if (gen !== this.gen) return;
      this.hist.set(res.hits || [], fromMs, toMsV, step);
      this.summary.textContent = `${fmtInt(res.total || 0)} hits · ${describe(this.from, this.to)}`;
    }).catch((err) => { fail(err); this.hist.clear(); });
    get('/api/v1/facets', { ...base, limit: 8 }, signal).then((res) => {
      if (gen === this.gen) renderFacets(this.facetsEl, res.facets, (...a) => this.applyFilter(...a));
    }).catch(fail);
  }

  addPage(res) {
    const got = res.entries || [];
    this.entries.push(...got);
    this.cursor = res.next_cursor || '';
    this.list.schedule(); // entries is the list's items array
    this.olderBtn.hidden = !this.cursor;
    this.status.textContent = this.entries.length === 0 ? 'No matching lines.'
      : `${fmtInt(this.entries.length)} lines loaded${this.cursor ? ' (more older)' : ''}`;
  }

  async loadOlder() {
    if (!this.cursor || this.loading) return;
    const gen = this.gen;
    this.loading = true;
    this.olderBtn.disabled = true;
    this.autoOlder = true; // from now on, scrolling to the end loads more
    try {
      const res = await get('/api/v1/search', { ...this.query, limit: olderPage, cursor: this.cursor }, this.abort.signal);
      if (gen === this.gen) this.addPage(res);
    } catch (err) {
      if (gen === this.gen && err.name !== 'AbortError') this.showError(err);
    } finally {
      this.loading = false;
      this.olderBtn.disabled = false;
    }
  }

  showError(err) {
    this.error.textContent = String(err.message || err);
    this.error.hidden = false;
    this.status.textContent = '';
  }

  openDetails(i) {
    const e = this.entries[i];
    if (!e) return;
    this.selected = i;
    this.list.render();
    this.details.hidden = false;
    renderDetails(this.details, e, this.highlight, {
      onFilter: (...a) => this.applyFilter(...a),
      onContext: () => this.openContext(e),
      onPermalink: () => this.permalink(e),
      onClose: () => this.closeDetails(),
    });
  }

  closeDetails() {
    this.details.hidden = true;
    if (this.selected >= 0) {
      this.selected = -1;
      this.list.render();
    }
  }

  // position finds (once) where an entry is stored: its topic, partition
  // and offset.
  async position(e) {
    if (e.offset !== undefined && e.partition !== undefined) return { topic: e.topic || 'logs', partition: e.partition, offset: e.offset };
    if (!e._pos) {
      const labels = Object.keys(e.labels || {}).length === 1 && e.labels.topic ? '' : labelString(e.labels);
      e._pos = await get('/api/v1/locate', { ts: e.timestamp, line: e.line, labels, topic: e.labels?.topic && !labels ? e.labels.topic : '' });
    }
    return e._pos;
  }

  async openContext(e) {
    const body = h('div', { class: 'ctx-body' });
    this.dialog.replaceChildren(h('div', { class: 'dialog', attrs: { role: 'dialog', 'aria-label': 'Log context' } },
      h('div', { class: 'dialog-head' }, h('h3', { text: 'Context' }), h('span', { class: 'spacer' }),
        h('button', { class: 'close', text: '×', title: 'Close (Esc)', on: { click: () => this.escape() } })),
      body));
    this.dialog.hidden = false;
    try {
      const view = new ContextView(body, await this.position(e));
      await view.load();
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error', text: String(err.message || err) }));
    }
  }

  async permalink(e) {
    const out = this.details.querySelector('.permalink-out');
    try {
      const pos = await this.position(e);
      const url = location.origin + pageURL('/ui/line', pos);
      out.replaceChildren(h('a', { class: 'permalink', href: url, text: url }));
      out.append(await copyText(url) ? ' (copied)' : '');
    } catch (err) {
      out.textContent = String(err.message || err);
    }
  }

  escape() {
    if (this.autocomplete.close()) return;
    if (!this.dialog.hidden) {
      this.dialog.hidden = true;
      this.dialog.replaceChildren();
    } else {
      this.closeDetails();
    }
  }

  destroy() {
    this.gen++;
    if (this.abort) this.abort.abort();
    this.list.destroy();
    this.hist.destroy();
    this.autocomplete.destroy();
  }
}
