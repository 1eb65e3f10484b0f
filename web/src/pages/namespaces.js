// pages/namespaces.js — every namespace in one table: pods, workloads, CPU and
// memory used against requests and limits (these when cluster state exists).

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod } from '../queries.js';
import { patch } from '../state.js';
import { table } from '../table.js';
import { cores, bytes, num } from '../units.js';
import { WHY, pageHead, byKey, nsHref } from './common.js';

export function mount(root, ctx) {
  const p = panel(ctx, { name: 'namespaces-table', title: 'Namespaces' }).load(async (q) => {
    const f = await q.filter();
    const K = 'namespace';
    const b = pod.by(f, K);
    const exprs = { cpu: b.cpu, mem: b.mem, pods: pod.countBy(f, K), workloads: pod.workloadsBy(f, K),
      cpuReq: pod.reqBy(f, K, 'cpu'), cpuLim: pod.limBy(f, K, 'cpu'), memReq: pod.reqBy(f, K, 'memory'), memLim: pod.limBy(f, K, 'memory') };
    const ids = Object.keys(exprs);
    const res = await Promise.all(ids.map((k) => q.instant(exprs[k])));
    const m = Object.fromEntries(ids.map((k, i) => [k, byKey(res[i], K)]));
    const names = new Set([...m.pods.keys(), ...m.cpu.keys()]);
    names.delete('');
    if (!names.size) return empty(f.namespace ? WHY.noPodsNs(f.namespace) : WHY.noPods);
    const rows = [...names].map((ns) => Object.fromEntries([['ns', ns], ...ids.map((k) => [k, m[k].get(ns) ?? null])]));
    const hasKube = m.cpuReq.size > 0;
    const cols = [
      { id: 'ns', label: 'Namespace' },
      { id: 'pods', label: 'Pods', num: true, cell: (r) => num(r.pods), width: 'minmax(60px, .6fr)' },
      { id: 'workloads', label: 'Workloads', num: true, cell: (r) => num(r.workloads), width: 'minmax(80px, .7fr)' },
      { id: 'cpu', label: 'CPU', num: true, cell: (r) => cores(r.cpu) },
      ...(hasKube ? [{ id: 'cpuReq', label: 'CPU requests', num: true, cell: (r) => cores(r.cpuReq) }, { id: 'cpuLim', label: 'CPU limits', num: true, cell: (r) => cores(r.cpuLim) }] : []),
      { id: 'mem', label: 'Memory', num: true, cell: (r) => bytes(r.mem) },
      ...(hasKube ? [{ id: 'memReq', label: 'Memory requests', num: true, cell: (r) => bytes(r.memReq) }, { id: 'memLim', label: 'Memory limits', num: true, cell: (r) => bytes(r.memLim) }] : []),
    ];
    return h('div', null, table(cols, {
      rows, key: (r) => r.ns, href: (r) => nsHref(r.ns), label: 'Namespaces',
      sort: ctx.query.sort || '-cpu', onSort: (s) => patch({ sort: s }, { push: false, silent: true }),
    }).el, hasKube ? null : h('p', { class: 'empty' }, `Requests and limits: ${WHY.noKube}`));
  });
  root.append(pageHead('Namespaces', 'CPU and memory by namespace, now'), p.el);
}
