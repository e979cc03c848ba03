// The cluster page: every node with its state, zone, address, heartbeat and
// the partitions it leads or follows. In single-node mode, this node.

import { h } from './dom.js';
import { get } from './api.js';

export function mount(main) {
  const body = h('div', { class: 'page cluster-page' }, h('p', { class: 'muted', text: 'Loading…' }));
  main.replaceChildren(body);
  load(body);
  return {};
}

async function load(body) {
  try {
    const c = await get('/api/v1/cluster');
    const rows = c.nodes.map((n) => h('tr', { class: 'node', dataset: { id: n.id } },
      h('td', { text: n.id }),
      h('td', {}, h('span', { class: `state state-${n.state.toLowerCase()}`, text: n.state })),
      h('td', { text: n.zone || '—' }),
      h('td', { text: n.address }),
      h('td', { text: new Date(n.heartbeat).toLocaleString() }),
      h('td', { text: n.version || '' }),
      h('td', { class: 'parts', text: n.leader.join(', ') || '—' }),
      h('td', { class: 'parts', text: n.follower.join(', ') || '—' })));
    body.replaceChildren(
      h('h2', { text: c.mode === 'single-node' ? 'Cluster: single node' : `Cluster: ${c.nodes.length} nodes` }),
      h('p', { class: 'muted', text: `Partitions of tenant ${c.tenant}. ${c.auth_enabled ? 'Multi-tenant (auth enabled).' : 'Single tenant.'}` }),
      h('table', { class: 'grid nodes' },
        h('thead', {}, h('tr', {}, ['Node', 'State', 'Zone', 'Address', 'Heartbeat', 'Version', 'Leads', 'Follows'].map((t) => h('th', { text: t })))),
        h('tbody', {}, rows)));
  } catch (err) {
    body.replaceChildren(h('p', { class: 'error', text: String(err.message || err) }));
  }
}
