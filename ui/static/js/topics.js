// The topics page: every topic of the tenant with its partitions (start and
// end offsets, records, bytes), and a partition browser that replays records
// from any offset or time, forward or backward. URL: /ui/topics,
// /ui/topics/{topic}?partition=&offset= (or &time=).

import { h, fmtInt, fmtBytes, fmtTime, printable } from './dom.js';
import { get } from './api.js';
import { pageURL, setParams } from './app.js';
import { localInput } from './timerange.js';

export function mount(main, parts, p) {
  const page = { update: (parts, p) => render(main, parts, p) };
  render(main, parts, p);
  return page;
}

function render(main, parts, p) {
  const body = h('div', { class: 'topics-body' }, h('p', { class: 'muted', text: 'Loading topics…' }));
  main.replaceChildren(h('div', { class: 'page topics-page' }, body));
  if (parts[0]) new PartitionBrowser(body, parts[0], p).load();
  else listTopics(body);
}

const retention = (ms, bytes) => {
  const parts = [];
  if (ms > 0) parts.push(ms % 86400000 === 0 ? `${ms / 86400000}d` : ms % 3600000 === 0 ? `${ms / 3600000}h` : `${ms} ms`);
  if (bytes > 0) parts.push(fmtBytes(bytes));
  return parts.length ? parts.join(', ') : (ms < 0 || bytes < 0 ? 'unlimited' : 'server default');
};

async function listTopics(body) {
  try {
    const res = await get('/api/v1/topics');
    const rows = [];
    for (const t of res.topics) {
      const records = t.partitions.reduce((n, p) => n + (p.end_offset - p.start_offset), 0);
      const bytes = t.partitions.reduce((n, p) => n + p.bytes, 0);
      rows.push(h('tr', { class: 'topic-row', dataset: { topic: t.name } },
        h('td', {}, h('a', { class: 'topic-link', text: t.name, href: pageURL(`/ui/topics/${encodeURIComponent(t.name)}`) }), t.builtin ? h('small', { class: 'muted', text: ' built-in' }) : null),
        h('td', { class: 'num', text: String(t.partition_count) }),
        h('td', { class: 'num', text: fmtInt(records) }),
        h('td', { class: 'num', text: fmtBytes(bytes) }),
        h('td', { text: retention(t.retention_ms, t.retention_bytes) })));
      for (const p of t.partitions) rows.push(partitionRow(t.name, p));
    }
    body.replaceChildren(h('h2', { text: `Topics of tenant ${res.tenant}` }),
      h('table', { class: 'grid topics' },
        h('thead', {}, h('tr', {}, ['Topic / partition', 'Partitions · start–end offset', 'Records', 'Bytes', 'Retention / browse'].map((c) => h('th', { text: c })))),
        h('tbody', {}, rows)));
  } catch (err) {
    body.replaceChildren(h('p', { class: 'error', text: String(err.message || err) }));
  }
}

function partitionRow(topic, p) {
  const href = pageURL(`/ui/topics/${encodeURIComponent(topic)}`, { partition: p.partition, offset: p.start_offset });
  return h('tr', { class: 'partition-row', dataset: { topic, partition: String(p.partition) } },
    h('td', { class: 'indent', text: `partition ${p.partition}` }),
    h('td', { class: 'num', text: `${fmtInt(p.start_offset)} – ${fmtInt(p.end_offset)}` }),
    h('td', { class: 'num', text: fmtInt(p.end_offset - p.start_offset) }),
    h('td', { class: 'num', text: fmtBytes(p.bytes) }),
    h('td', {}, h('a', { class: 'browse', text: 'browse', href })));
}

// PartitionBrowser replays one partition: a page of limit records from an
// offset (or the first offset at a time), stepping forward or backward.
class PartitionBrowser {
  constructor(body, topic, p) {
    this.body = body;
    this.topic = topic;
    this.partition = Number(p.partition || 0);
    this.offset = p.offset;
    this.time = p.time;
    this.limit = Math.min(1000, Number(p.limit || 50));
  }

  async load() {
    try {
      this.info = await get(`/api/v1/topics/${encodeURIComponent(this.topic)}`);
    } catch (err) {
      this.body.replaceChildren(h('p', { class: 'error', text: String(err.message || err) }));
      return;
    }
    this.build();
    await this.fetch();
  }

  build() {
    const parts = this.info.partitions;
    this.partSel = h('select', { class: 'partition', attrs: { 'aria-label': 'Partition' } },
      parts.map((p) => h('option', { value: String(p.partition), text: `partition ${p.partition} (${fmtInt(p.start_offset)}–${fmtInt(p.end_offset)})` })));
    this.partSel.value = String(this.partition);
    // An offset or a time: entering one clears the other.
    this.offIn = h('input', { type: 'number', min: 0, class: 'offset', placeholder: 'offset', value: this.offset ?? '',
      attrs: { 'aria-label': 'Offset' }, on: { input: () => { this.timeIn.value = ''; } } });
    this.timeIn = h('input', { type: 'datetime-local', step: 1, class: 'time', attrs: { 'aria-label': 'Time' },
      on: { input: () => { this.offIn.value = ''; } } });
    if (this.time) this.timeIn.value = localInput(new Date(Number(this.time) / 1e6));
    this.limitIn = h('select', { class: 'limit', attrs: { 'aria-label': 'Records per page' } }, [20, 50, 100, 500, 1000].map((n) => h('option', { value: String(n), text: `${n} / page` })));
    this.limitIn.value = String(this.limit);
    this.table = h('div', { class: 'records' });
    this.status = h('span', { class: 'muted status' });
    const form = h('form', { class: 'replay-bar', on: { submit: (ev) => { ev.preventDefault(); this.go(); } } },
      this.partSel, h('label', {}, 'from offset ', this.offIn), h('label', {}, 'or time ', this.timeIn), this.limitIn,
      h('button', { type: 'submit', class: 'primary go', text: 'Go' }),
      h('button', { type: 'button', class: 'older', text: '◀ Older', on: { click: () => this.step(-1) } }),
      h('button', { type: 'button', class: 'newer', text: 'Newer ▶', on: { click: () => this.step(1) } }));
    this.body.replaceChildren(
      h('div', { class: 'page-head' }, h('h2', {}, h('a', { href: pageURL('/ui/topics'), text: 'Topics' }), ` / ${this.topic}`)),
      form, this.status, this.table);
  }

  go() {
    this.partition = Number(this.partSel.value);
    this.limit = Number(this.limitIn.value);
    this.time = '';
    this.offset = this.offIn.value;
    if (this.offset === '' && this.timeIn.value) this.time = String(BigInt(Date.parse(this.timeIn.value)) * 1000000n);
    this.fetch(true);
  }

  // step pages backward (-1) or forward (+1) from the records shown.
  step(dir) {
    const p = this.info.partitions[this.partition];
    if (!this.shown) return;
    const { first, next } = this.shown;
    this.time = '';
    this.offset = String(dir < 0 ? Math.max(p.start_offset, first - this.limit) : next);
    this.fetch(true);
  }

  async fetch(push) {
    const params = { limit: this.limit };
    if (this.time) params.time = this.time;
    else if (this.offset !== undefined && this.offset !== '') params.offset = this.offset;
    if (push) setParams({ partition: this.partition, offset: params.offset, time: params.time, limit: this.limit });
    this.status.textContent = 'Loading…';
    try {
      const res = await get(`/api/v1/topics/${encodeURIComponent(this.topic)}/partitions/${this.partition}/records`, params);
      this.show(res);
    } catch (err) {
      this.status.textContent = '';
      this.table.replaceChildren(h('p', { class: 'error', text: String(err.message || err) }));
    }
  }

  show(res) {
    const recs = res.records || [];
    const first = recs.length ? recs[0].offset : Number(this.offset || res.log_start_offset);
    this.shown = { first, next: res.next_offset };
    this.offIn.value = String(first);
    this.status.textContent = `partition ${this.partition}: offsets ${fmtInt(res.log_start_offset)}–${fmtInt(res.high_watermark)}; showing ${fmtInt(recs.length)} from ${fmtInt(first)}`;
    const rows = recs.map((r) => h('tr', { class: 'record', dataset: { offset: String(r.offset) } },
      h('td', { class: 'num' }, h('a', { class: 'off', text: String(r.offset), href: pageURL('/ui/line', { topic: this.topic, partition: this.partition, offset: r.offset }), title: 'Open in context' })),
      h('td', { class: 'ts', text: fmtTime(r.timestamp) }),
      h('td', { class: 'key', text: r.key !== undefined ? printable(r.key) : r.key_base64 !== undefined ? `(binary, base64 ${r.key_base64.length} chars)` : '' }),
      h('td', { class: 'headers', text: r.headers ? Object.entries(r.headers).map(([k, v]) => `${k}=${v}`).join(' ') : '' }),
      h('td', { class: 'value', text: r.value !== undefined ? printable(r.value) : `(binary, base64 ${r.value_base64.length} chars)` })));
    this.table.replaceChildren(recs.length === 0 ? h('p', { class: 'muted', text: 'No records from here.' })
      : h('table', { class: 'grid records-table' },
        h('thead', {}, h('tr', {}, ['Offset', 'Time', 'Key', 'Headers', 'Value'].map((c) => h('th', { text: c })))),
        h('tbody', {}, rows)));
  }
}

