// Autocomplete for the query input: label names inside a LogQL selector,
// label values after name= (or name:"... in a query string), detected fields
// after a pipe. Arrow keys choose, Tab or Enter accepts, Esc closes; Enter
// with the list closed submits the query form.

import { h } from './dom.js';
import { get } from './api.js';

export class Autocomplete {
  constructor(input, mode, range) {
    this.input = input;
    this.mode = mode;
    this.range = range;
    this.items = [];
    this.active = -1;
    this.cache = new Map();
    this.box = h('ul', { class: 'ac', hidden: true, attrs: { role: 'listbox' } });
    input.after(this.box);
    this.onInput = () => this.suggest();
    this.onKey = (ev) => this.key(ev);
    this.onBlur = () => setTimeout(() => this.close(), 150);
    input.addEventListener('input', this.onInput);
    input.addEventListener('keydown', this.onKey);
    input.addEventListener('blur', this.onBlur);
  }

  // context looks at the text before the caret and says what to complete.
  context() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    if (this.mode() === 'querystring') {
      let m = /([\w.]+):("?)([^\s"]*)$/.exec(before);
      if (m) return { kind: 'value', name: m[1], prefix: m[3], start: before.length - m[3].length, suffix: m[2] };
      m = /(?:^|[\s(+-])([\w.]*)$/.exec(before);
      if (m && m[1]) return { kind: 'label', prefix: m[1], start: before.length - m[1].length, suffix: ':' };
      return null;
    }
    const open = before.lastIndexOf('{'), close = before.lastIndexOf('}');
    if (open > close) {
      let m = /([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(before);
      if (m) return { kind: 'value', name: m[1], prefix: m[3], start: before.length - m[3].length, suffix: '"' };
      m = /(?:^|[{,]\s*)([A-Za-z_]\w*)?$/.exec(before.slice(open));
      if (m) return { kind: 'label', prefix: m[1] || '', start: before.length - (m[1] || '').length, suffix: '="' };
      return null;
    }
    const m = /\|\s*([A-Za-z_]\w*)$/.exec(before);
    if (m) return { kind: 'field', prefix: m[1], start: before.length - m[1].length, suffix: '="' };
    return null;
  }

  async options(ctx) {
    const [start, end] = this.range();
    let key, load;
    if (ctx.kind === 'label') {
      key = 'labels';
      load = async () => (await get('/loki/api/v1/labels', { start, end })).data || [];
    } else if (ctx.kind === 'value') {
      key = 'values:' + ctx.name;
      load = async () => (await get(`/loki/api/v1/label/${encodeURIComponent(ctx.name)}/values`, { start, end })).data || [];
    } else {
      const q = this.input.value.split('|')[0].trim();
      key = 'fields:' + q;
      load = async () => ((await get('/loki/api/v1/detected_fields', { query: q, start, end })).fields || []).map((f) => f.label);
    }
    if (!this.cache.has(key)) this.cache.set(key, load().catch(() => []));
    const all = await this.cache.get(key);
    const p = ctx.prefix.toLowerCase();
    return all.filter((v) => v.toLowerCase().startsWith(p) && v !== ctx.prefix).slice(0, 50);
  }

  async suggest() {
    const ctx = this.context();
    if (!ctx) { this.close(); return; }
    const seq = (this.seq = (this.seq || 0) + 1);
    const items = await this.options(ctx);
    if (seq !== this.seq) return;
    this.ctx = ctx;
    this.items = items;
    this.active = items.length ? 0 : -1;
    this.draw();
  }

  draw() {
    this.box.replaceChildren(...this.items.map((v, i) => h('li', {
      class: i === this.active ? 'active' : '', text: v, attrs: { role: 'option' },
      on: { mousedown: (ev) => { ev.preventDefault(); this.accept(i); } },
    })));
    this.box.hidden = this.items.length === 0;
  }

  accept(i) {
    const v = this.items[i];
    const { start } = this.ctx;
    const caret = this.input.selectionStart;
    const suffix = this.ctx.suffix || '';
    const text = this.input.value;
    this.input.value = text.slice(0, start) + v + suffix + text.slice(caret);
    const at = start + v.length + suffix.length;
    this.input.setSelectionRange(at, at);
    this.close();
    this.input.focus();
    this.suggest(); // a label name is followed by its values
  }

  key(ev) {
    const open = !this.box.hidden;
    if (ev.key === 'ArrowDown' && open) {
      this.active = (this.active + 1) % this.items.length;
    } else if (ev.key === 'ArrowUp' && open) {
      this.active = (this.active - 1 + this.items.length) % this.items.length;
    } else if ((ev.key === 'Tab' || ev.key === 'Enter') && open && this.active >= 0) {
      ev.preventDefault();
      this.accept(this.active);
      return;
    } else if (ev.key === 'Escape' && open) {
      ev.preventDefault();
      ev.stopPropagation();
      this.close();
      return;
    } else {
      return;
    }
    ev.preventDefault();
    this.draw();
  }

  // close hides the list; it reports whether it was open.
  close() {
    const was = !this.box.hidden;
    this.box.hidden = true;
    this.items = [];
    return was;
  }

  destroy() {
    this.input.removeEventListener('input', this.onInput);
    this.input.removeEventListener('keydown', this.onKey);
    this.input.removeEventListener('blur', this.onBlur);
  }
}
