// pages/nodes.js — every node in one sortable table: CPU, memory, disk and
// network rates, fullest filesystem, load, pods, last seen. One instant query
// per column, aggregated by node (never one query per row).

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { node } from '../queries.js';
import { patch } from '../state.js';
import { table } from '../table.js';
import { cores, bytes, bytesRate, pct, ago, num } from '../units.js';
import { WHY, pageHead, byKey, nodeHref, bar, toneFor } from './common.js';

const withBar = (v, text) => h('span', { class: 'cell-bar' }, bar(v, toneFor(v)), h('span', null, text));

export function mount(root, ctx) {
  const p = panel(ctx, { name: 'nodes-table', title: 'Nodes' }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    const Q = node.byNode;
    const cols = ['cpu', 'cores', 'memUsed', 'memTotal', 'diskIO', 'netIO', 'fsFill', 'load1', 'pods', 'lastSeen'];
    const res = await Promise.all(cols.map((c) => q.instant(Q[c](f))));
    const m = Object.fromEntries(cols.map((c, i) => [c, byKey(res[i], 'node')]));
    const names = new Set([...m.lastSeen.keys(), ...m.cpu.keys()]);
    names.delete('');
    if (!names.size) return empty(WHY.noNodes);
    const rows = [...names].map((n) => {
      const r = { node: n };
      for (const c of cols) r[c] = m[c].get(n) ?? null;
      r.memFrac = r.memUsed !== null && r.memTotal ? r.memUsed / r.memTotal : null;
      r.cpuCores = r.cpu !== null && r.cores ? r.cpu * r.cores : null;
      r.silent = !m.cpu.has(n);
      return r;
    });
    const t = table([
      { id: 'node', label: 'Node', cell: (r) => h('span', null, r.node, r.silent ? h('span', { class: 'badge bad' }, 'not reporting') : null) },
      { id: 'cpu', label: 'CPU', num: true, cell: (r) => (r.cpu === null ? null : withBar(r.cpu, `${pct(r.cpu)} · ${cores(r.cpuCores)}`)), width: 'minmax(150px, 1.4fr)' },
      { id: 'cores', label: 'Cores', num: true, cell: (r) => num(r.cores), width: 'minmax(60px, .6fr)' },
      { id: 'mem', label: 'Memory', num: true, value: (r) => r.memFrac, cell: (r) => (r.memFrac === null ? null : withBar(r.memFrac, `${bytes(r.memUsed)} / ${bytes(r.memTotal)}`)), width: 'minmax(190px, 1.8fr)' },
      { id: 'diskIO', label: 'Disk I/O', num: true, cell: (r) => bytesRate(r.diskIO) },
      { id: 'netIO', label: 'Network', num: true, cell: (r) => bytesRate(r.netIO) },
      { id: 'fsFill', label: 'Disk full', num: true, cell: (r) => (r.fsFill === null ? null : withBar(r.fsFill, pct(r.fsFill))), width: 'minmax(110px, 1fr)' },
      { id: 'load1', label: 'Load 1m', num: true, cell: (r) => num(r.load1), width: 'minmax(70px, .7fr)' },
      { id: 'pods', label: 'Pods', num: true, cell: (r) => num(r.pods), width: 'minmax(60px, .6fr)' },
      { id: 'lastSeen', label: 'Last seen', num: true, cell: (r) => ago(r.lastSeen), width: 'minmax(90px, .9fr)' },
    ], {
      rows, key: (r) => r.node, href: (r) => nodeHref(r.node), label: 'Nodes',
      sort: ctx.query.sort || 'node', onSort: (s) => patch({ sort: s }, { push: false, silent: true }),
    });
    return t.el;
  });
  root.append(pageHead('Nodes', ctx.filter.namespace ? `Nodes running pods of ${ctx.filter.namespace}` : 'Every node that reported in the last day'), p.el);
}
