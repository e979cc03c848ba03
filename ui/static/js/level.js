// Log levels: where a line's level comes from and how it is coloured.

export const levels = ['critical', 'error', 'warn', 'info', 'debug', 'trace', 'unknown'];

const aliases = {
  emerg: 'critical', emergency: 'critical', alert: 'critical', crit: 'critical', critical: 'critical', fatal: 'critical', panic: 'critical',
  err: 'error', error: 'error', eror: 'error',
  warn: 'warn', warning: 'warn',
  info: 'info', information: 'info', informational: 'info', notice: 'info',
  debug: 'debug', dbug: 'debug',
  trace: 'trace',
};

const levelKeys = ['level', 'detected_level', 'severity', 'severity_text', 'lvl', 'loglevel'];

// normalize maps a level name as written by a logger to one of levels.
export function normalize(v) {
  return aliases[String(v || '').toLowerCase()] || 'unknown';
}

const inLine = /\b(?:level|lvl|severity)=["']?([A-Za-z]+)|"(?:level|lvl|severity)"\s*:\s*"([A-Za-z]+)"|\b(FATAL|PANIC|CRITICAL|ERROR|ERR|WARNING|WARN|INFO|NOTICE|DEBUG|TRACE)\b/;

// of returns the level of a search entry: its labels, metadata or parsed
// fields first, then a level=... or a bare upper-case level word in the line.
export function of(e) {
  for (const src of [e.labels, e.metadata, e.parsed]) {
    if (!src) continue;
    for (const k of levelKeys) if (src[k]) return normalize(src[k]);
  }
  const m = inLine.exec(e.line.length > 2000 ? e.line.slice(0, 2000) : e.line);
  return m ? normalize(m[1] || m[2] || m[3]) : 'unknown';
}
