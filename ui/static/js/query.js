// Query text: adding filters for the +/- and facet buttons, and the terms to
// highlight, in both modes (LogQL and the bleve query-string syntax).

// selectorEnd returns the index of the } that closes the stream selector
// starting at the first {, skipping quoted strings, or -1.
function selectorEnd(q) {
  const start = q.indexOf('{');
  if (start < 0) return -1;
  for (let i = start + 1; i < q.length; i++) {
    const c = q[i];
    if (c === '"' || c === '`') {
      const close = c === '"' ? /(?<!\\)(?:\\\\)*"/g : /`/g;
      close.lastIndex = i + 1;
      const m = close.exec(q);
      if (!m) return -1;
      i = m.index + m[0].length - 1;
    } else if (c === '}') {
      return i;
    }
  }
  return -1;
}

const quote = (v) => JSON.stringify(String(v));

// addLabelMatcher adds name op "value" to the LogQL stream selector.
export function addLabelMatcher(q, name, op, value) {
  const end = selectorEnd(q);
  const m = `${name}${op}${quote(value)}`;
  if (end < 0) return `{${m}} ${q.trim()}`.trim();
  const inside = q.slice(q.indexOf('{') + 1, end).trim();
  const sep = inside === '' ? '' : ', ';
  return q.slice(0, end).replace(/\s*$/, '') + sep + m + q.slice(end);
}

// addPipelineFilter adds | name op "value" to a LogQL query, after a parser
// stage when the field is parsed from the line and the query has none.
export function addPipelineFilter(q, name, op, value, parser) {
  let out = q.trim();
  if (parser && !new RegExp(`\\|\\s*${parser}\\b`).test(out)) out += ` | ${parser}`;
  return `${out} | ${name}${op}${quote(value)}`;
}

// addQueryStringTerm adds +field:"value" (or -field:"value") to a bleve
// query string.
export function addQueryStringTerm(q, name, include, value) {
  const term = `${include ? '+' : '-'}${name}:${quote(value)}`;
  return q.trim() === '' ? term : `${q.trim()} ${term}`;
}

// filterQuery adds an include (or exclude) filter on field=value, where kind
// is label, metadata, or a parser name (json, logfmt) for parsed fields.
export function filterQuery(mode, q, kind, name, value, include) {
  if (mode === 'querystring') return addQueryStringTerm(q, name, include, value);
  if (kind === 'label') return addLabelMatcher(q, name, include ? '=' : '!=', value);
  const parser = kind === 'json' || kind === 'logfmt' ? kind : '';
  return addPipelineFilter(q, name, include ? '=' : '!=', value, parser);
}

// unquote decodes a LogQL "..." string (Go syntax, close to JSON) or `...`.
function unquote(s) {
  if (s[0] === '`') return s.slice(1, -1);
  try { return JSON.parse(s); } catch { return s.slice(1, -1); }
}

// highlighter returns a function from a line to the sorted, non-overlapping
// [start, end) ranges to mark: LogQL |= strings (exact) and |~ patterns, or
// the positive terms of a query string (case-insensitive).
export function highlighter(mode, q) {
  const res = [];
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (mode === 'querystring') {
    const tok = /([+-]?)(?:[\w.]+:)?("(?:[^"\\]|\\.)*"|[^\s()]+)/g;
    for (const m of q.matchAll(tok)) {
      if (m[1] === '-' || /^(AND|OR|NOT)$/.test(m[2])) continue;
      if (/^[\w.]+:/.test(m[0].replace(/^[+-]/, ''))) continue; // a field term
      const t = m[2][0] === '"' ? unquote(m[2]) : m[2].replace(/[*?]/g, '');
      if (t) res.push(new RegExp(esc(t), 'gi'));
    }
  } else {
    const filt = /\|([=~])\s*("(?:[^"\\]|\\.)*"|`[^`]*`)/g;
    for (const m of q.matchAll(filt)) {
      const v = unquote(m[2]);
      if (!v) continue;
      try { res.push(new RegExp(m[1] === '=' ? esc(v) : v, 'g')); } catch { /* invalid pattern: no highlight */ }
    }
  }
  return (line) => {
    const ranges = [];
    for (const re of res) {
      re.lastIndex = 0;
      for (let m, n = 0; (m = re.exec(line)) && n < 1000; n++) {
        if (m[0].length === 0) { re.lastIndex++; continue; }
        ranges.push([m.index, m.index + m[0].length]);
      }
    }
    ranges.sort((a, b) => a[0] - b[0]);
    const out = [];
    for (const r of ranges) {
      const last = out[out.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else out.push([...r]);
    }
    return out;
  };
}

// parseFields parses a line as a JSON object (flattening nested keys with _)
// or as logfmt; it returns {parser, fields} or null.
export function parseFields(line) {
  const t = line.trim();
  if (t.startsWith('{')) {
    try {
      const obj = JSON.parse(t);
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const fields = {};
        const walk = (o, prefix) => {
          for (const [k, v] of Object.entries(o)) {
            const key = (prefix + k).replace(/[^A-Za-z0-9_]/g, '_');
            if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, key + '_');
            else fields[key] = typeof v === 'string' ? v : JSON.stringify(v);
          }
        };
        walk(obj, '');
        return { parser: 'json', fields };
      }
    } catch { /* not JSON */ }
  }
  const fields = {};
  let n = 0;
  for (const m of t.matchAll(/([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    fields[m[1].replace(/[^A-Za-z0-9_]/g, '_')] = m[2][0] === '"' ? unquote(m[2]) : m[2];
    n++;
  }
  return n > 0 ? { parser: 'logfmt', fields } : null;
}
