// main starts the UI: the header (pages, tenant, theme), the router that
// mounts one page per URL, and the global keyboard shortcuts.

import { h, clear } from './dom.js';
import { get, getTenant, APIError } from './api.js';
import { setRouter, navigate, initTenant, chooseTenant, recentTenants, params, pageURL, isTyping } from './app.js';
import * as search from './search.js';
import * as tail from './tail.js';
import * as topicsPage from './topics.js';
import * as cluster from './cluster.js';
import * as line from './line.js';
import { themeChanged } from './histogram.js';

const pages = { search, tail, topics: topicsPage, cluster, line };

let current = null; // { name, page }

function route() {
  const parts = location.pathname.replace(/^\/ui\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const name = pages[parts[0]] ? parts[0] : 'search';
  const tenant = params().tenant;
  if (tenant !== undefined && tenant !== getTenant()) {
    chooseTenant(tenant);
    document.getElementById('tenant').value = tenant;
  }
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('active', a.dataset.page === name);
    a.href = pageURL(`/ui/${a.dataset.page}`);
  }
  if (current && current.name === name && current.page.update) {
    current.page.update(parts.slice(1), params());
    return;
  }
  if (current && current.page.destroy) current.page.destroy();
  const main = clear(document.getElementById('page'));
  current = { name, page: pages[name].mount(main, parts.slice(1), params()) };
  document.title = `silt · ${name}`;
}

function setupTheme() {
  const stored = localStorage.getItem('silt.theme');
  if (stored) document.documentElement.dataset.theme = stored;
  document.getElementById('theme').addEventListener('click', () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === 'dark'
      : matchMedia('(prefers-color-scheme: dark)').matches;
    const next = dark ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    localStorage.setItem('silt.theme', next);
    themeChanged();
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', themeChanged);
}

// setupTenant shows the tenant selector when the server wants a tenant
// (auth enabled: /api/v1/cluster says so, or answers 401 without one).
async function setupTenant() {
  const input = document.getElementById('tenant');
  const list = document.getElementById('tenants');
  input.value = initTenant();
  const fill = () => list.replaceChildren(...recentTenants().map((t) => h('option', { value: t })));
  fill();
  input.addEventListener('change', () => {
    chooseTenant(input.value.trim());
    fill();
    const u = new URL(location.href);
    if (input.value.trim()) u.searchParams.set('tenant', input.value.trim());
    else u.searchParams.delete('tenant');
    navigate(u.pathname + u.search, true);
    if (current) { current.page.destroy?.(); current = null; route(); }
  });
  try {
    const c = await get('/api/v1/cluster');
    document.getElementById('tenant-box').hidden = !c.auth_enabled;
  } catch (e) {
    document.getElementById('tenant-box').hidden = !(e instanceof APIError && e.status === 401);
  }
}

function setupLinks() {
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest('a[href^="/ui/"]');
    if (!a || a.target || a.hasAttribute('download') || ev.button !== 0 ||
        ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(a.getAttribute('href'));
  });
}

function setupKeys() {
  document.addEventListener('keydown', (ev) => {
    if (ev.key === '/' && !isTyping(ev)) {
      const q = document.querySelector('[data-query-input]');
      if (q) { ev.preventDefault(); q.focus(); q.select(); }
    } else if (ev.key === 'Escape') {
      current?.page.escape?.();
    }
  });
}

setRouter(route);
setupTheme();
setupLinks();
setupKeys();
window.addEventListener('popstate', route);
setupTenant();
route();
