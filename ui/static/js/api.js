// api talks to silt's HTTP APIs with the chosen tenant in X-Scope-OrgID.

let tenant = '';

export function setTenant(t) { tenant = t || ''; }
export function getTenant() { return tenant; }

export class APIError extends Error {
  constructor(status, msg) {
    super(msg);
    this.status = status;
  }
}

// get fetches path with params (an object; empty values left out) and
// decodes the JSON answer; an error answer throws APIError with its text.
export async function get(path, params = {}, signal) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  const headers = { Accept: 'application/json' };
  if (tenant) headers['X-Scope-OrgID'] = tenant;
  const resp = await fetch(u, { headers, signal });
  const body = await resp.text();
  if (!resp.ok) {
    let msg = body.trim();
    try { msg = JSON.parse(body).error || msg; } catch { /* plain text error */ }
    throw new APIError(resp.status, `${resp.status}: ${msg || resp.statusText}`);
  }
  return body ? JSON.parse(body) : null;
}

// tailURL is the WebSocket URL of a Loki live tail. A browser cannot set
// headers on a WebSocket, so the tenant goes in the query string.
export function tailURL(query, start) {
  const u = new URL('/loki/api/v1/tail', location.origin);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('query', query);
  u.searchParams.set('limit', '1000');
  if (start) u.searchParams.set('start', start);
  if (tenant) u.searchParams.set('X-Scope-OrgID', tenant);
  return u.toString();
}
