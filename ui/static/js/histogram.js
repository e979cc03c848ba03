// The hits histogram: bars per time bucket stacked by level, drawn with the
// vendored uPlot (static/vendor, loaded before the modules as window.uPlot).
// Dragging across it selects a time range to zoom into.

import { levels, normalize } from './level.js';

const colours = {
  critical: '#b3005e', error: '#e5484d', warn: '#f5a524', info: '#3e8ed0',
  debug: '#8e8e99', trace: '#6e56cf', unknown: '#5fa8a0',
};

export class Histogram {
  // onZoom(fromMs, toMs) is called after a drag selection.
  constructor(container, onZoom) {
    this.container = container;
    this.onZoom = onZoom;
    this.plot = null;
    this.ro = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.height() });
    });
    this.ro.observe(container);
    // Axis and grid colours come from the theme: redraw when it changes.
    this.onTheme = () => { if (this.last) this.draw(...this.last); };
    document.addEventListener('silt-theme', this.onTheme);
  }

  width() { return Math.max(200, this.container.clientWidth); }
  height() { return 120; }

  // set draws hits (the /api/v1/hits series, by level) over [fromMs, toMs)
  // in buckets of stepMs.
  set(hits, fromMs, toMs, stepMs) {
    const n = Math.max(1, Math.ceil((toMs - fromMs) / stepMs));
    const xs = Array.from({ length: n }, (_, i) => (fromMs + i * stepMs) / 1000);
    const byLevel = new Map();
    for (const s of hits) {
      const lv = normalize(Object.values(s.labels || {})[0]);
      const ys = byLevel.get(lv) || new Array(n).fill(0);
      s.timestamps.forEach((t, k) => {
        const i = Math.floor((Date.parse(t) - fromMs) / stepMs);
        if (i >= 0 && i < n) ys[i] += s.values[k];
      });
      byLevel.set(lv, ys);
    }
    // Stack: each series is the sum of itself and the levels below it; uPlot
    // draws them in order, so the tallest (all levels) goes first.
    const present = levels.filter((l) => byLevel.has(l)).reverse();
    const stacked = [];
    let acc = new Array(n).fill(0);
    for (const l of present) {
      acc = acc.map((v, i) => v + byLevel.get(l)[i]);
      stacked.push({ level: l, ys: acc });
    }
    stacked.reverse();
    const total = acc.reduce((a, b) => a + b, 0);
    this.container.dataset.buckets = String(acc.filter((v) => v > 0).length);
    this.container.dataset.total = String(total);
    this.draw(xs, stacked, stepMs);
  }

  draw(xs, stacked, stepMs) {
    this.last = [xs, stacked, stepMs];
    const uPlot = window.uPlot;
    if (this.plot) this.plot.destroy();
    const css = getComputedStyle(document.documentElement);
    const axis = { stroke: css.getPropertyValue('--muted').trim(), grid: { stroke: css.getPropertyValue('--grid').trim(), width: 1 }, ticks: { show: false } };
    const bars = uPlot.paths.bars({ size: [0.9, 100], align: 1 });
    const opts = {
      width: this.width(), height: this.height(),
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      select: { show: true },
      scales: { x: { time: true, range: () => [xs[0], xs[xs.length - 1] + stepMs / 1000] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{ ...axis }, { ...axis, size: 44, values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? String(v) : '')) }],
      series: [{}, ...stacked.map((s) => ({
        label: s.level, stroke: colours[s.level], fill: colours[s.level], width: 0, paths: bars, points: { show: false },
      }))],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const from = u.posToVal(u.select.left, 'x') * 1000;
          const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
          u.setSelect({ left: 0, width: 0 }, false);
          this.onZoom(Math.floor(from), Math.ceil(to));
        }],
      },
    };
    const data = [xs, ...stacked.map((s) => s.ys)];
    this.plot = new uPlot(opts, data, this.container);
  }

  clear() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.last = null;
    this.container.dataset.buckets = '0';
    this.container.dataset.total = '0';
  }

  destroy() {
    this.clear();
    this.ro.disconnect();
    document.removeEventListener('silt-theme', this.onTheme);
  }
}

export function levelColour(l) { return colours[l] || colours.unknown; }

export function themeChanged() {
  document.dispatchEvent(new Event('silt-theme'));
}
