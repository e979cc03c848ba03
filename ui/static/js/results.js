// Result rows and the details panel of one entry: labels, structured
// metadata and parsed fields, each with +/- filter buttons.

import { h, append, marked, printable, fmtTime } from './dom.js';
import * as level from './level.js';
import { parseFields } from './query.js';

// Lines longer than this are cut in the list; the details panel shows all.
const rowChars = 1000;

// renderRow fills a list row with an entry's time, level and line.
export function renderRow(el, e, highlight) {
  const lv = e._level || (e._level = level.of(e));
  el.className = `vrow lvl-${lv}`;
  const text = printable(e.line.length > rowChars ? e.line.slice(0, rowChars) + '…' : e.line);
  el.append(
    h('span', { class: 'ts', text: fmtTime(e.timestamp) }),
    h('span', { class: 'lvl', text: lv === 'unknown' ? '' : lv }),
    marked(h('span', { class: 'msg' }), text, highlight(text)),
  );
}

// fieldTable is a table of name/value pairs with + and - buttons that call
// onFilter(kind, name, value, include).
function fieldTable(title, kind, fields, onFilter) {
  const names = Object.keys(fields || {}).sort();
  if (names.length === 0) return null;
  const rows = names.map((k) => h('tr', {},
    h('td', { class: 'fname', text: k }),
    h('td', { class: 'fvalue', text: printable(String(fields[k])) }),
    h('td', { class: 'fbtns' },
      h('button', { class: 'mini', text: '+', title: `Only ${k}="${fields[k]}"`, dataset: { filter: 'include', field: k }, on: { click: () => onFilter(kind, k, fields[k], true) } }),
      h('button', { class: 'mini', text: '−', title: `Exclude ${k}="${fields[k]}"`, dataset: { filter: 'exclude', field: k }, on: { click: () => onFilter(kind, k, fields[k], false) } })),
  ));
  return h('section', { class: 'fields', dataset: { kind } }, h('h4', { text: title }), h('table', {}, h('tbody', {}, rows)));
}

// renderDetails fills the details panel. actions: onFilter, onContext,
// onPermalink, onClose.
export function renderDetails(panel, e, highlight, actions) {
  const text = printable(e.line);
  const parsed = parseFields(e.line);
  panel.replaceChildren();
  append(panel, // append, unlike replaceChildren, leaves out the null sections
    h('div', { class: 'details-head' },
      h('span', { class: 'ts', text: fmtTime(e.timestamp) }),
      h('span', { class: `lvl-badge lvl-${e._level}`, text: e._level }),
      h('span', { class: 'spacer' }),
      h('button', { class: 'close', text: '×', title: 'Close (Esc)', on: { click: actions.onClose } })),
    marked(h('pre', { class: 'line-full' }), text, highlight(text)),
    h('div', { class: 'details-actions' },
      h('button', { text: 'Show context', class: 'btn-context', on: { click: actions.onContext } }),
      h('button', { text: 'Copy permalink', class: 'btn-permalink', on: { click: actions.onPermalink } }),
      h('span', { class: 'permalink-out' })),
    fieldTable('Labels', 'label', e.labels, actions.onFilter),
    fieldTable('Structured metadata', 'metadata', e.metadata, actions.onFilter),
    fieldTable('Parsed fields (query)', 'parsed', e.parsed, actions.onFilter),
    parsed ? fieldTable(`Parsed fields (${parsed.parser})`, parsed.parser, parsed.fields, actions.onFilter) : null,
  );
}

// ndjson and plainText are the loaded entries as a download.
export function ndjson(entries) {
  return entries.map((e) => JSON.stringify({ time: e.time, timestamp: e.timestamp, labels: e.labels, metadata: e.metadata, line: e.line })).join('\n') + '\n';
}

export function plainText(entries) {
  return entries.map((e) => `${e.time} ${e.line}`).join('\n') + '\n';
}
