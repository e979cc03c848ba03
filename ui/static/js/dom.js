// DOM helpers. Every piece of text from the server (log lines, labels, topic
// names) reaches the page through textContent or a Text node, never through
// an API that parses HTML: log text is shown, never parsed. ui_test.go
// (TestNoHTMLSinks) checks that no script uses one. The CSP (no inline script)
// is the second line of defence.

// h creates an element. props: class, text (set as textContent), title,
// dataset (object), style (object of CSSOM properties), on (object of event handlers), attrs (object of
// attributes; never an event handler attribute), and any DOM property such as
// type, value or disabled. children: nodes or strings (become Text nodes).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    switch (k) {
      case 'class': el.className = v; break;
      case 'text': el.textContent = v; break;
      case 'dataset': Object.assign(el.dataset, v); break;
      case 'style': Object.assign(el.style, v); break; // CSSOM, which the CSP allows
      case 'on': for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); break;
      case 'attrs':
        for (const [a, av] of Object.entries(v)) {
          if (/^on/i.test(a)) throw new Error('event handler attributes are not allowed: ' + a);
          el.setAttribute(a, av);
        }
        break;
      default: el[k] = v;
    }
  }
  append(el, ...children);
  return el;
}

export function append(el, ...children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// printable makes control characters visible as Unicode control pictures
// (ESC becomes U+241B), so ANSI escape sequences and stray control bytes show
// as what they are. Tabs and newlines stay.
export function printable(s) {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g,
    (c) => c === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0)));
}

// marked appends text to el with the ranges [start, end) wrapped in <mark>.
export function marked(el, text, ranges) {
  let at = 0;
  for (const [s, e] of ranges) {
    if (s > at) el.append(document.createTextNode(text.slice(at, s)));
    el.append(h('mark', { text: text.slice(s, e) }));
    at = e;
  }
  if (at < text.length) el.append(document.createTextNode(text.slice(at)));
  return el;
}

export function fmtInt(n) {
  return Number(n).toLocaleString('en-US');
}

export function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (n = Number(n); n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

// fmtTime formats a timestamp in ns (string or number) as local ISO-like time
// with milliseconds.
export function fmtTime(ns) {
  const ms = Number(BigInt(ns) / 1000000n);
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function labelString(labels) {
  const keys = Object.keys(labels || {}).sort();
  return '{' + keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(', ') + '}';
}

// download offers text as a file.
export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// copyText copies to the clipboard, falling back to a selected input.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { value: text });
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  }
}
