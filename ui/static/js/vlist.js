// VirtualList shows a long list of fixed-height rows by keeping only the rows
// in view (plus a margin) in the DOM: 100,000 entries cost the same number of
// nodes as 50.

import { h } from './dom.js';

export class VirtualList {
  // opts: rowHeight (px), render(el, item, index) fills a row element,
  // onNearEnd() is called when the user scrolls near the end, onClick(item,
  // index) when a row is clicked, selected(index) tells the selected row.
  constructor(container, opts) {
    this.opts = { rowHeight: 22, overscan: 10, ...opts };
    this.items = [];
    this.container = container;
    container.classList.add('vlist');
    this.spacer = h('div', { class: 'vlist-spacer' });
    container.append(this.spacer);
    this.pool = [];
    this.frame = 0;
    container.addEventListener('scroll', () => this.schedule(), { passive: true });
    container.addEventListener('click', (ev) => {
      const row = ev.target.closest('.vrow');
      if (row && this.opts.onClick && !ev.target.closest('button')) {
        const i = Number(row.dataset.index);
        this.opts.onClick(this.items[i], i);
      }
    });
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(container);
  }

  setItems(items) {
    this.items = items;
    this.invalidate();
  }

  append(items) {
    this.items.push(...items);
    this.schedule();
  }

  // invalidate re-renders every visible row (the items changed in place).
  invalidate() {
    for (const r of this.pool) r.dataset.index = '-1';
    this.schedule();
  }

  scrollToIndex(i, align = 'center') {
    const rh = this.opts.rowHeight;
    const top = align === 'end' ? i * rh : i * rh - (this.container.clientHeight - rh) / 2;
    this.container.scrollTop = Math.max(0, top);
    this.render();
  }

  atEnd() {
    const c = this.container;
    return c.scrollTop + c.clientHeight >= c.scrollHeight - this.opts.rowHeight * 2;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  render() {
    const { rowHeight: rh, overscan } = this.opts;
    const n = this.items.length;
    this.spacer.style.height = `${n * rh}px`;
    const first = Math.max(0, Math.floor(this.container.scrollTop / rh) - overscan);
    const count = Math.min(n - first, Math.ceil(this.container.clientHeight / rh) + 2 * overscan);
    while (this.pool.length < count) {
      const el = h('div', { class: 'vrow', dataset: { index: '-1' } });
      el.style.height = `${rh}px`;
      this.pool.push(el);
      this.container.append(el);
    }
    while (this.pool.length > Math.max(count, 0)) this.pool.pop().remove();
    // Each element keeps its index modulo the pool size, so a scroll by one
    // row re-renders one row, not all of them.
    for (let k = 0; k < count; k++) {
      const i = first + k;
      const el = this.pool[i % count];
      if (el.dataset.index !== String(i)) {
        el.dataset.index = String(i);
        el.style.transform = `translateY(${i * rh}px)`;
        el.replaceChildren();
        this.opts.render(el, this.items[i], i);
      }
      const sel = this.opts.selected ? this.opts.selected(i) : false;
      el.classList.toggle('selected', sel);
    }
    if (this.opts.onNearEnd && n > 0 && first + count >= n - overscan) this.opts.onNearEnd();
  }

  destroy() {
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
  }
}
