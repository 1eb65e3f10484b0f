// pages/workload.js — one workload (kube-prometheus "Compute Resources /
// Workload"): CPU and memory stacked by pod with its requests, network by pod,
// readiness, and its pods' table.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod, eq } from '../queries.js';
import { href } from '../state.js';
import { cores, bytes, bytesRate } from '../units.js';
import { pageHead, grid, lineChart } from './common.js';
import { podTablePanel } from './podtable.js';

export function mount(root, ctx) {
  const { ns, kind, name } = ctx.params;
  const via = [eq('workload_kind', kind), eq('workload', name)];
  const why = `No pods of ${kind} ${ns}/${name} report in this time range: no container_* series name it.`;
  const chartPanel = (id, title, sub, build) => panel(ctx, { name: id, title, sub }).load(async (q) => (await build(q, await q.filter())) || empty(why));
  const lines = (req, lim) => [{ label: 'requests', value: req, color: '#f59e0b' }, { label: 'limits', value: lim, color: '#ef4444' }];

  const cpu = chartPanel('cpu', 'CPU usage', 'cores by pod, stacked', async (q, f) => {
    const [r, req, lim] = await Promise.all([q.range(pod.cpuBy(f, 'pod', q.win, via)), q.scalar(pod.reqBy(f, 'namespace', 'cpu', [], via)), q.scalar(pod.limBy(f, 'namespace', 'cpu', [], via))]);
    return lineChart(q, [[r, (m) => m.pod]], { unit: cores, stacked: true, consts: lines(req, lim) });
  });
  const mem = chartPanel('memory', 'Memory usage', 'working set by pod, stacked', async (q, f) => {
    const [r, req, lim] = await Promise.all([q.range(pod.memBy(f, 'pod', via)), q.scalar(pod.reqBy(f, 'namespace', 'memory', [], via)), q.scalar(pod.limBy(f, 'namespace', 'memory', [], via))]);
    return lineChart(q, [[r, (m) => m.pod]], { unit: bytes, stacked: true, consts: lines(req, lim) });
  });
  const rx = chartPanel('network-rx', 'Network received', 'bytes/s by pod', async (q, f) => lineChart(q, [[await q.range(pod.netRxBy(f, 'pod', q.win, via)), (m) => m.pod]], { unit: bytesRate, stacked: true }));
  const tx = chartPanel('network-tx', 'Network sent', 'bytes/s by pod', async (q, f) => lineChart(q, [[await q.range(pod.netTxBy(f, 'pod', q.win, via)), (m) => m.pod]], { unit: bytesRate, stacked: true }));

  root.append(
    pageHead(name, `${kind} in namespace ${ns}`, h('a', { href: href('workloads'), class: 'crumbs' }, '← All workloads')),
    grid('two', cpu, mem, rx, tx),
    grid('one', podTablePanel(ctx, { extra: via, kubeVia: via, why, title: 'Pods' })));
}
