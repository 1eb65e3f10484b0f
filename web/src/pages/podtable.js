// pages/podtable.js — the pods of a scope (a namespace, a workload, a node) as
// a table: CPU and memory used against requests and limits, restarts. Shared
// by the namespace and workload pages.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod } from '../queries.js';
import { patch } from '../state.js';
import { table } from '../table.js';
import { cores, bytes, num } from '../units.js';
import { byKey, podHref } from './common.js';

/** extra: matchers narrowing the scope; why: the empty-state sentence. */
export function podTablePanel(ctx, { extra, why, title = 'Pods', kubeVia }) {
  return panel(ctx, { name: 'pods-table', title }).load(async (q) => {
    const f = await q.filter();
    const K = 'namespace, pod';
    const b = pod.by(f, K, extra);
    const ke = kubeVia ? [] : extra; // cluster-state series: the same matchers, or joined through the workload's pods
    const exprs = { cpu: b.cpu, mem: b.mem, cpuReq: pod.reqBy(f, K, 'cpu', ke, kubeVia), cpuLim: pod.limBy(f, K, 'cpu', ke, kubeVia),
      memReq: pod.reqBy(f, K, 'memory', ke, kubeVia), memLim: pod.limBy(f, K, 'memory', ke, kubeVia), restarts: pod.restarts(f, ke, kubeVia) };
    const ids = Object.keys(exprs);
    const res = await Promise.all(ids.map((k) => q.instant(exprs[k])));
    const m = Object.fromEntries(ids.map((k, i) => [k, byKey(res[i], ['namespace', 'pod'])]));
    const keys = new Set([...m.cpu.keys(), ...m.mem.keys(), ...m.cpuReq.keys()]);
    if (!keys.size) return empty(why);
    const rows = [...keys].map((k) => {
      const [ns, p] = k.split('/');
      return Object.fromEntries([['key', k], ['ns', ns], ['pod', p], ...ids.map((id) => [id, m[id].get(k) ?? null])]);
    });
    const hasKube = m.cpuReq.size > 0;
    const cols = [
      { id: 'pod', label: 'Pod', width: 'minmax(220px, 3fr)' },
      { id: 'cpu', label: 'CPU', num: true, cell: (r) => cores(r.cpu) },
      ...(hasKube ? [{ id: 'cpuReq', label: 'CPU requests', num: true, cell: (r) => cores(r.cpuReq) }, { id: 'cpuLim', label: 'CPU limits', num: true, cell: (r) => cores(r.cpuLim) }] : []),
      { id: 'mem', label: 'Memory', num: true, cell: (r) => bytes(r.mem) },
      ...(hasKube ? [{ id: 'memReq', label: 'Memory requests', num: true, cell: (r) => bytes(r.memReq) }, { id: 'memLim', label: 'Memory limits', num: true, cell: (r) => bytes(r.memLim) },
        { id: 'restarts', label: 'Restarts', num: true, cell: (r) => num(r.restarts), width: 'minmax(70px, .6fr)' }] : []),
    ];
    return h('div', null, table(cols, { rows, key: (r) => r.key, href: (r) => podHref(r.ns, r.pod), label: title,
      sort: ctx.query.sort || '-cpu', onSort: (s) => patch({ sort: s }, { push: false, silent: true }), maxHeight: '560px' }).el);
  });
}
