// The permalink page, /ui/line?topic=&partition=&offset=&tenant=: one record
// in its context.

import { h } from './dom.js';
import { ContextView } from './context.js';
import { pageURL } from './app.js';

export function mount(main, _parts, p) {
  const page = { view: null };
  const render = (p) => {
    const pos = { topic: p.topic || 'logs', partition: p.partition || '0', offset: p.offset || '0' };
    const body = h('div', { class: 'ctx-body' });
    main.replaceChildren(h('div', { class: 'page line-page' },
      h('div', { class: 'page-head' },
        h('h2', { text: 'Log line in context' }),
        h('a', { class: 'btn', text: 'Browse partition from here', href: pageURL(`/ui/topics/${encodeURIComponent(pos.topic)}`, { partition: pos.partition, offset: Math.max(0, Number(pos.offset) - 25) }) })),
      body));
    page.view = new ContextView(body, pos);
    page.view.load();
  };
  render(p);
  return { update: (_parts, p) => render(p) };
}
