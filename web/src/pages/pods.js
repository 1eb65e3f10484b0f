// pages/pods.js — every pod of the cluster in one searchable, sortable,
// virtualised table (thousands of rows stay smooth): namespace, node,
// workload, phase, CPU, memory, restarts. "/" focuses the search box.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod } from '../queries.js';
import { patch } from '../state.js';
import { table } from '../table.js';
import { cores, bytes, num } from '../units.js';
import { WHY, pageHead, byKey, podHref, ownerOf } from './common.js';

/** All terms (space-separated) must occur in the row's text. */
function matcher(text) {
  const terms = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return null;
  return (r) => terms.every((t) => r.text.includes(t));
}

export function mount(root, ctx) {
  const search = h('input', { id: 'pods-search', type: 'search', placeholder: 'Search pods, namespaces, nodes, workloads', 'aria-label': 'Search pods', value: ctx.query.q || '', autocomplete: 'off', 'data-search': '' });
  let current = null;
  let timer = 0;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      current?.setFilter(matcher(search.value));
      patch({ q: search.value }, { push: false, silent: true });
    }, 60);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); root.querySelector('.tbody .tr')?.focus(); }
  });

  const p = panel(ctx, { name: 'pods-table', title: 'Pods' }).load(async (q) => {
    const f = await q.filter();
    const K = 'namespace, pod';
    const b = pod.by(f, K);
    const [cpu, mem, info, kinfo, phase, restarts] = await Promise.all([
      q.instant(b.cpu), q.instant(b.mem), q.instant(pod.info(f)), q.instant(pod.kubeInfo(f)), q.instant(pod.phase(f)), q.instant(pod.restarts(f))]);
    const KK = ['namespace', 'pod'];
    const c = byKey(cpu, KK), m = byKey(mem, KK), rs = byKey(restarts, KK);
    const meta = new Map();
    const put = (s, o) => { const k = `${s.metric.namespace}/${s.metric.pod}`; meta.set(k, { ...(meta.get(k) || {}), ...o }); };
    for (const s of kinfo) {
      const o = ownerOf(s.metric.created_by_kind, s.metric.created_by_name);
      put(s, { node: s.metric.node, kind: o.kind, owner: o.name });
    }
    for (const s of info) put(s, { node: s.metric.node, kind: s.metric.workload_kind, owner: s.metric.workload, qos: s.metric.qos_class });
    for (const s of phase) put(s, { phase: s.metric.phase });
    for (const k of [...c.keys(), ...m.keys()]) if (!meta.has(k)) meta.set(k, {});
    meta.delete('/');
    if (!meta.size) return empty(f.namespace ? WHY.noPodsNs(f.namespace) : WHY.noPods);
    const hasKube = phase.length > 0;
    const rows = [...meta].map(([k, o]) => {
      const i = k.indexOf('/');
      const r = { key: k, ns: k.slice(0, i), pod: k.slice(i + 1), node: o.node || '', workload: o.owner ? `${o.owner}` : '', kind: o.kind || '',
        phase: o.phase || (c.has(k) || m.has(k) ? 'Running' : ''), cpu: c.get(k) ?? null, mem: m.get(k) ?? null, restarts: rs.get(k) ?? null };
      r.text = `${r.ns} ${r.pod} ${r.node} ${r.workload} ${r.kind} ${r.phase}`.toLowerCase();
      return r;
    });
    const phaseCell = (r) => (r.phase ? h('span', { class: `badge ${r.phase === 'Running' || r.phase === 'Succeeded' ? 'ok' : r.phase === 'Pending' ? 'warn' : 'bad'}` }, r.phase) : null);
    if (current && current.el.isConnected) { // a refresh: same table, new rows
      current.setRows(rows);
      return current.el;
    }
    current = table([
      { id: 'pod', label: 'Pod', width: 'minmax(220px, 3fr)' },
      { id: 'ns', label: 'Namespace', width: 'minmax(110px, 1.2fr)' },
      { id: 'node', label: 'Node', width: 'minmax(100px, 1fr)' },
      { id: 'workload', label: 'Workload', width: 'minmax(120px, 1.5fr)', cell: (r) => (r.workload ? `${r.workload} · ${r.kind}` : null) },
      { id: 'phase', label: 'Phase', cell: phaseCell, width: 'minmax(90px, .8fr)' },
      { id: 'cpu', label: 'CPU', num: true, cell: (r) => cores(r.cpu), width: 'minmax(80px, .8fr)' },
      { id: 'mem', label: 'Memory', num: true, cell: (r) => bytes(r.mem), width: 'minmax(90px, .8fr)' },
      ...(hasKube ? [{ id: 'restarts', label: 'Restarts', num: true, cell: (r) => num(r.restarts), width: 'minmax(70px, .6fr)' }] : []),
    ], {
      rows, key: (r) => r.key, href: (r) => podHref(r.ns, r.pod), label: 'Pods',
      sort: ctx.query.sort || '-cpu', onSort: (s) => patch({ sort: s }, { push: false, silent: true }),
    });
    current.setFilter(matcher(search.value));
    return current.el;
  });
  root.append(pageHead('Pods', 'Every pod, now', h('div', { class: 'toolbar' }, search, h('span', { class: 'kbd', title: 'Press / to search' }, '/'))), p.el);
}
