// Live tail: new lines of a LogQL query as they arrive, over Loki's
// /loki/api/v1/tail WebSocket. Pause keeps receiving but holds lines back;
// resume shows them. The list keeps the newest maxLines lines.

import { h, fmtInt } from './dom.js';
import { tailURL } from './api.js';
import { setParams } from './app.js';
import { VirtualList } from './vlist.js';
import { renderRow } from './results.js';
import { highlighter } from './query.js';

const maxLines = 20000;

export function mount(main, _parts, p) {
  const page = new TailPage(main);
  page.apply(p);
  return page;
}

class TailPage {
  constructor(main) {
    this.lines = [];
    this.pending = [];
    this.paused = false;
    this.arrivals = []; // [time ms, lines] of the last 5 s, for the rate
    this.highlight = () => [];
    this.input = h('input', { class: 'query', type: 'text', spellcheck: false, autocomplete: 'off',
      placeholder: '{app="api"} |= "error"', attrs: { 'data-query-input': '', 'aria-label': 'Query' } });
    this.startBtn = h('button', { type: 'submit', class: 'primary tail-start', text: 'Start' });
    this.pauseBtn = h('button', { type: 'button', class: 'tail-pause', text: 'Pause', disabled: true, on: { click: () => this.togglePause() } });
    this.state = h('span', { class: 'tail-state muted', text: 'stopped' });
    this.rate = h('span', { class: 'tail-rate', text: '0 lines/s' });
    this.count = h('span', { class: 'tail-count muted' });
    this.error = h('div', { class: 'error', hidden: true, attrs: { role: 'alert' } });
    const form = h('form', { class: 'querybar', on: { submit: (ev) => { ev.preventDefault(); this.toggle(); } } },
      h('div', { class: 'query-wrap' }, this.input), this.startBtn, this.pauseBtn,
      h('button', { type: 'button', class: 'tail-clear', text: 'Clear', on: { click: () => this.clear() } }));
    this.listEl = h('div', { class: 'results-list tail-list' });
    main.replaceChildren(h('div', { class: 'page tail-page' }, form, this.error,
      h('div', { class: 'results-bar' }, this.state, this.rate, this.count), this.listEl));
    this.list = new VirtualList(this.listEl, { rowHeight: 22, render: (el, e) => renderRow(el, e, this.highlight) });
    this.list.setItems(this.lines);
    this.timer = setInterval(() => this.tick(), 1000);
  }

  apply(p) {
    this.input.value = p.query || '';
    if (this.input.value) this.start();
  }

  update(_parts, p) {
    if ((p.query || '') !== this.input.value || !this.ws) {
      this.stop();
      this.apply(p);
    }
  }

  toggle() {
    if (this.ws) {
      this.stop();
      return;
    }
    setParams({ query: this.input.value.trim() });
    this.start();
  }

  start() {
    const q = this.input.value.trim();
    if (!q) return;
    this.highlight = highlighter('logql', q);
    this.error.hidden = true;
    this.want = true;
    this.connect(q, this.lastTs ? (BigInt(this.lastTs) + 1n).toString() : '');
    this.startBtn.textContent = 'Stop';
    this.pauseBtn.disabled = false;
  }

  connect(q, start) {
    this.state.textContent = 'connecting…';
    const ws = new WebSocket(tailURL(q, start));
    this.ws = ws;
    ws.onopen = () => { if (this.ws === ws) this.state.textContent = 'live'; };
    ws.onmessage = (ev) => { if (this.ws === ws) this.receive(JSON.parse(ev.data)); };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.state.textContent = 'disconnected';
      if (ev.code !== 1000 && !this.sawData) {
        this.error.textContent = 'The tail connection closed; check the query (live tail takes a LogQL log query).';
        this.error.hidden = false;
      }
      if (this.want) this.retry = setTimeout(() => this.connect(q, this.lastTs ? (BigInt(this.lastTs) + 1n).toString() : ''), 2000);
    };
  }

  receive(msg) {
    const now = Date.now();
    const got = [];
    for (const s of msg.streams || []) {
      for (const [ts, line] of s.values || []) {
        got.push({ timestamp: ts, time: '', labels: s.stream, metadata: {}, line });
      }
    }
    got.sort((a, b) => (BigInt(a.timestamp) < BigInt(b.timestamp) ? -1 : 1));
    if (got.length) {
      this.arrivals.push([now, got.length]);
      this.sawData = true;
      this.lastTs = got[got.length - 1].timestamp;
    }
    if (this.paused) {
      this.pending.push(...got);
      this.pending.splice(0, Math.max(0, this.pending.length - maxLines));
    } else {
      this.show(got);
    }
    this.showCount();
  }

  show(got) {
    const follow = this.list.atEnd();
    this.lines.push(...got);
    if (this.lines.length > maxLines) {
      this.lines.splice(0, this.lines.length - maxLines);
      this.list.invalidate();
    }
    this.list.schedule();
    if (follow) requestAnimationFrame(() => this.list.scrollToIndex(this.lines.length - 1, 'end'));
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseBtn.textContent = this.paused ? 'Resume' : 'Pause';
    if (!this.paused) {
      this.show(this.pending);
      this.pending = [];
    }
    this.showCount();
  }

  clear() {
    this.lines.length = 0;
    this.pending = [];
    this.list.setItems(this.lines);
    this.showCount();
  }

  showCount() {
    this.count.textContent = `${fmtInt(this.lines.length)} lines` + (this.paused ? ` · paused, ${fmtInt(this.pending.length)} new` : '');
  }

  tick() {
    const now = Date.now();
    while (this.arrivals.length && this.arrivals[0][0] < now - 5000) this.arrivals.shift();
    const n = this.arrivals.reduce((sum, [, k]) => sum + k, 0);
    this.rate.textContent = `${(n / 5).toFixed(1)} lines/s`;
  }

  stop() {
    this.want = false;
    clearTimeout(this.retry);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
    this.state.textContent = 'stopped';
    this.startBtn.textContent = 'Start';
    this.pauseBtn.disabled = true;
  }

  escape() {}

  destroy() {
    this.stop();
    clearInterval(this.timer);
    this.list.destroy();
  }
}
