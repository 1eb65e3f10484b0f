// pages/namespace.js — one namespace (kube-prometheus "Compute Resources /
// Namespace (Pods)"): CPU and memory stacked by pod with the namespace's
// requests and limits, network by pod, and its pods' table.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod } from '../queries.js';
import { table } from '../table.js';
import { href } from '../state.js';
import { cores, bytes, bytesRate, num } from '../units.js';
import { pageHead, grid, lineChart, byKey, workloadHref } from './common.js';
import { podTablePanel } from './podtable.js';

export function mount(root, ctx) {
  const ns = ctx.params.ns;
  const why = `No pods of namespace “${ns}” report in this time range: no container_* series carry it.`;
  const chartPanel = (name, title, sub, build) => panel(ctx, { name, title, sub }).load(async (q) => (await build(q, await q.filter())) || empty(why));

  const cpu = chartPanel('cpu', 'CPU usage', 'cores by pod, stacked', async (q, f) => {
    const [r, req, lim] = await Promise.all([q.range(pod.cpuBy(f, 'pod', q.win)), q.scalar(pod.requests(f, 'cpu')), q.scalar(pod.limBy(f, 'namespace', 'cpu'))]);
    return lineChart(q, [[r, (m) => m.pod]], { unit: cores, stacked: true, consts: [{ label: 'requests', value: req, color: '#f59e0b' }, { label: 'limits', value: lim, color: '#ef4444' }] });
  });
  const mem = chartPanel('memory', 'Memory usage', 'working set by pod, stacked', async (q, f) => {
    const [r, req, lim] = await Promise.all([q.range(pod.memBy(f, 'pod')), q.scalar(pod.requests(f, 'memory')), q.scalar(pod.limBy(f, 'namespace', 'memory'))]);
    return lineChart(q, [[r, (m) => m.pod]], { unit: bytes, stacked: true, consts: [{ label: 'requests', value: req, color: '#f59e0b' }, { label: 'limits', value: lim, color: '#ef4444' }] });
  });
  const rx = chartPanel('network-rx', 'Network received', 'bytes/s by pod', async (q, f) => lineChart(q, [[await q.range(pod.netRxBy(f, 'pod', q.win)), (m) => m.pod]], { unit: bytesRate, stacked: true }));
  const tx = chartPanel('network-tx', 'Network sent', 'bytes/s by pod', async (q, f) => lineChart(q, [[await q.range(pod.netTxBy(f, 'pod', q.win)), (m) => m.pod]], { unit: bytesRate, stacked: true }));

  const workloads = panel(ctx, { name: 'workloads-table', title: `Workloads in ${ns}` }).load(async (q) => {
    const f = await q.filter();
    const K = 'namespace, workload_kind, workload';
    const b = pod.by(f, K, ['workload!=""']);
    const [cpuR, memR, podsR] = await Promise.all([q.instant(b.cpu), q.instant(b.mem), q.instant(b.pods)]);
    const ks = ['namespace', 'workload_kind', 'workload'];
    const c = byKey(cpuR, ks), m = byKey(memR, ks), n = byKey(podsR, ks);
    if (!n.size) return empty(`No pod of namespace “${ns}” names a workload: no container_* series with a workload label.`);
    const rows = [...n.keys()].map((k) => { const [, kind, name] = k.split('/'); return { key: k, kind, name, pods: n.get(k), cpu: c.get(k) ?? null, mem: m.get(k) ?? null }; });
    return table([
      { id: 'name', label: 'Workload', width: 'minmax(180px, 2.4fr)' }, { id: 'kind', label: 'Kind' },
      { id: 'pods', label: 'Pods', num: true, cell: (r) => num(r.pods) }, { id: 'cpu', label: 'CPU', num: true, cell: (r) => cores(r.cpu) },
      { id: 'mem', label: 'Memory', num: true, cell: (r) => bytes(r.mem) },
    ], { rows, key: (r) => r.key, href: (r) => workloadHref(ns, r.kind, r.name), label: `Workloads in ${ns}`, sort: '-cpu', maxHeight: '420px' }).el;
  });

  root.append(
    pageHead(ns, 'Namespace', h('a', { href: href('namespaces', { namespace: '' }), class: 'crumbs' }, '← All namespaces')),
    grid('two', cpu, mem, rx, tx),
    grid('one', workloads),
    grid('one', podTablePanel(ctx, { extra: [], why, title: `Pods in ${ns}` })));
}
