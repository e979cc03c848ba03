// Time ranges as the URL holds them: "now", "now-15m", "now-7d", an RFC 3339
// time or milliseconds since the epoch.

export const relativeRanges = [
  ['now-5m', 'Last 5 minutes'], ['now-15m', 'Last 15 minutes'], ['now-1h', 'Last 1 hour'],
  ['now-2h', 'Last 2 hours'], ['now-6h', 'Last 6 hours'], ['now-12h', 'Last 12 hours'], ['now-24h', 'Last 24 hours'], ['now-7d', 'Last 7 days'],
  ['now-30d', 'Last 30 days'],
];

const unitMs = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

// toMs resolves a time expression to milliseconds since the epoch, or NaN.
export function toMs(expr, now = Date.now()) {
  const s = String(expr || '').trim();
  if (s === '' || s === 'now') return now;
  const rel = /^now-(\d+)([smhdw])$/.exec(s);
  if (rel) return now - Number(rel[1]) * unitMs[rel[2]];
  if (/^\d+$/.test(s)) return Number(s);
  return Date.parse(s);
}

// toNs turns an expression into a nanosecond timestamp string for the API.
export function toNs(expr, now) {
  const ms = toMs(expr, now);
  return isNaN(ms) ? '' : (BigInt(Math.round(ms)) * 1000000n).toString();
}

export function isRelative(from, to) {
  return /^now-\d+[smhdw]$/.test(from) && (to === 'now' || to === '');
}

// describe is a short label for a range.
export function describe(from, to) {
  const known = relativeRanges.find(([v]) => v === from);
  if (known && (to === 'now' || !to)) return known[1];
  const f = new Date(toMs(from)), t = new Date(toMs(to));
  return `${localInput(f).replace('T', ' ')} to ${localInput(t).replace('T', ' ')}`;
}

// localInput formats a date for <input type="datetime-local">.
export function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// stepFor picks a histogram bucket width (ms) that gives about target buckets
// over span ms, from a list of round widths.
export function stepFor(spanMs, target = 80) {
  const steps = [1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3,
    3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 7 * 86400e3];
  for (const s of steps) if (spanMs / s <= target) return s;
  return steps[steps.length - 1];
}
