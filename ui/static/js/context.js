// The context of one record: the records before and after it in its
// partition (by default only those of its stream), with the record itself
// marked. Used by the search page's context dialog and the permalink page.

import { h, printable, fmtTime, labelString } from './dom.js';
import { get } from './api.js';
import { pageURL } from './app.js';
import * as level from './level.js';

// Neighbours longer than this are cut; the record itself is shown whole.
const maxChars = 2000;

export class ContextView {
  // pos: {topic, partition, offset}.
  constructor(container, pos) {
    this.el = container;
    this.pos = pos;
    this.span = 50;
    this.sameStream = true;
    this.records = [];
  }

  async load() {
    const { topic, partition, offset } = this.pos;
    this.renderStatus('Loading context…');
    try {
      const res = await get('/api/v1/context', { topic, partition, offset, before: this.span, after: this.span });
      this.records = res.records || [];
      this.render();
    } catch (err) {
      this.renderStatus(String(err.message || err), true);
    }
  }

  renderStatus(msg, isError) {
    this.el.replaceChildren(h('p', { class: isError ? 'error' : 'muted', text: msg }));
  }

  target() {
    return this.records.find((r) => String(r.offset) === String(this.pos.offset));
  }

  render() {
    const target = this.target();
    if (!target) {
      this.renderStatus(`No record at offset ${this.pos.offset} of ${this.pos.topic}/${this.pos.partition} (deleted by retention?).`, true);
      return;
    }
    const stream = labelString(target.labels);
    const shown = this.sameStream ? this.records.filter((r) => labelString(r.labels) === stream) : this.records;
    const rows = shown.map((r) => {
      const e = { labels: r.labels, metadata: r.metadata, line: r.line };
      const lv = level.of(e);
      const isTarget = r === target;
      return h('div', { class: `ctx-row lvl-${lv}${isTarget ? ' target' : ''}`, dataset: { offset: String(r.offset) } },
        h('a', { class: 'off', text: String(r.offset), href: pageURL('/ui/line', { topic: r.topic, partition: r.partition, offset: r.offset }), title: 'Permalink' }),
        h('span', { class: 'ts', text: fmtTime(r.timestamp) }),
        h('span', { class: 'msg', text: printable(r.line.length > maxChars && !isTarget ? r.line.slice(0, maxChars) + '…' : r.line) }));
    });
    const more = (label, cls) => h('button', { class: cls, text: label, disabled: this.span >= 1000, on: { click: () => { this.span = Math.min(1000, this.span * 2); this.load(); } } });
    const toggle = h('input', { type: 'checkbox', checked: this.sameStream, on: { change: (ev) => { this.sameStream = ev.target.checked; this.render(); } } });
    this.el.replaceChildren(
      h('div', { class: 'ctx-head' },
        h('span', { class: 'muted', text: `${this.pos.topic} / partition ${this.pos.partition} / offset ${this.pos.offset}` }),
        h('code', { class: 'stream', text: stream }),
        h('label', {}, toggle, ' only this stream')),
      more('More before', 'ctx-more-before'),
      h('div', { class: 'ctx-rows' }, rows),
      more('More after', 'ctx-more-after'));
    const t = this.el.querySelector('.ctx-row.target');
    if (t) t.scrollIntoView({ block: 'center' });
  }
}
