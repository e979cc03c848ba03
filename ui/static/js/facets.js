// The facets sidebar: the top values of each label and metadata key among
// the matching entries, with counts. Clicking a value filters on it; the -
// button excludes it.

import { h, fmtInt, printable } from './dom.js';

export function renderFacets(el, facets, onFilter) {
  if (!facets || facets.length === 0) {
    el.replaceChildren(h('p', { class: 'muted', text: 'No fields.' }));
    return;
  }
  el.replaceChildren(...facets.map((f) => {
    const max = Math.max(1, ...f.values.map((v) => v.hits));
    return h('details', { class: 'facet', open: true, dataset: { field: f.field, kind: f.kind } },
      h('summary', {}, h('span', { class: 'fname', text: f.field }), h('small', { class: 'muted', text: f.kind === 'label' ? ' label' : ' metadata' })),
      h('ul', {}, f.values.map((v) => h('li', {},
        h('button', {
          class: 'facet-value', title: `Only ${f.field}="${v.value}"`,
          dataset: { field: f.field, value: v.value },
          on: { click: () => onFilter(f.kind, f.field, v.value, true) },
        }, h('span', { class: 'bar', style: { width: `${Math.round(100 * v.hits / max)}%` } }),
        h('span', { class: 'fv', text: v.value === '' ? '(empty)' : printable(v.value) })),
        h('span', { class: 'count', text: fmtInt(v.hits) }),
        h('button', { class: 'mini', text: '−', title: `Exclude ${f.field}="${v.value}"`, on: { click: () => onFilter(f.kind, f.field, v.value, false) } }),
      ))));
  }));
}
