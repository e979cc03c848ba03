// app holds what every page shares: the URL as the state, navigation and the
// tenant.

import { setTenant, getTenant } from './api.js';

let router = () => {};

export function setRouter(fn) { router = fn; }

// params returns the current URL's query parameters as an object.
export function params() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

// pageURL builds a UI URL for path with params (empty values left out) and
// the current tenant.
export function pageURL(path, p = {}) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(p)) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  if (getTenant() && !u.searchParams.has('tenant')) u.searchParams.set('tenant', getTenant());
  return u.pathname + u.search;
}

// navigate goes to a UI URL without reloading; replace keeps the history
// entry (for state changes that should not add a back step).
export function navigate(url, replace = false) {
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  router();
}

// setParams rewrites the current URL's parameters without running the router:
// the page has already applied them.
export function setParams(p, replace = false) {
  const url = pageURL(location.pathname, p);
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
}

const tenantStore = 'silt.tenant';
const recentStore = 'silt.tenants';

// initTenant takes the tenant from the URL, else the last one used.
export function initTenant() {
  const t = params().tenant || localStorage.getItem(tenantStore) || '';
  setTenant(t);
  return t;
}

export function chooseTenant(t) {
  setTenant(t);
  localStorage.setItem(tenantStore, t);
  const recent = recentTenants().filter((x) => x !== t);
  if (t) recent.unshift(t);
  localStorage.setItem(recentStore, JSON.stringify(recent.slice(0, 10)));
}

export function recentTenants() {
  try { return JSON.parse(localStorage.getItem(recentStore) || '[]'); } catch { return []; }
}

// isTyping reports whether the keyboard focus is in a text field.
export function isTyping(ev) {
  const t = ev.target;
  return t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
}
