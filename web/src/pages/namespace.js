// pages/namespace.js — one namespace (kube-prometheus "Compute Resources /
// Namespace (Pods)"): CPU and memory stacked by pod with the namespace's
// requests and limits, network by pod, and its pods' table.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod } from '../queries.js';
import { href } from '../state.js';
import { cores, bytes, bytesRate } from '../units.js';
import { pageHead, grid, lineChart } from './common.js';
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

  root.append(
    pageHead(ns, 'Namespace', h('a', { href: href('namespaces', { namespace: '' }), class: 'crumbs' }, '← All namespaces')),
    grid('two', cpu, mem, rx, tx),
    grid('one', podTablePanel(ctx, { extra: [], why, title: `Pods in ${ns}` })));
}
