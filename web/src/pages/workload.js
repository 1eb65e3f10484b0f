// pages/workload.js — one workload (kube-prometheus "Compute Resources /
// Workload"): CPU and memory stacked by pod with its requests, network by pod,
// readiness, and its pods' table.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod, kube, eq } from '../queries.js';
import { href } from '../state.js';
import { cores, bytes, bytesRate, num } from '../units.js';
import { WHY, pageHead, grid, lineChart } from './common.js';
import { podTablePanel } from './podtable.js';

export function mount(root, ctx) {
  const { ns, kind, name } = ctx.params;
  const via = [eq('workload_kind', kind), eq('workload', name)];
  const why = `No pods of ${kind} ${ns}/${name} report in this time range: no container_* series name it.`;
  const chartPanel = (id, title, sub, build) => panel(ctx, { name: id, title, sub }).load(async (q) => (await build(q, await q.filter())) || empty(why));
  const lines = (req, lim) => [{ label: 'requests', value: req, color: '#f59e0b' }, { label: 'limits', value: lim, color: '#ef4444' }];

  const info = panel(ctx, { name: 'workload-info', title: kind }).load(async (q) => {
    const f = await q.filter();
    const b = pod.by(f, 'namespace', via);
    const rep = kube.replicasOf(f, kind, name);
    const job = kind === 'Job' ? kube.jobOf(f, name) : null;
    const [pods, cpuNow, memNow, desired, ready, active, succeeded, failed] = await Promise.all([
      q.scalar(b.pods), q.scalar(b.cpu), q.scalar(b.mem),
      rep ? q.scalar(rep[0]) : null, rep ? q.scalar(rep[1]) : null,
      ...(job ? job.map((x) => q.scalar(x)) : [null, null, null])]);
    if (pods === null && desired === null && active === null) return empty(why);
    const item = (k, v, tone) => h('div', { class: 'info-item' }, h('div', { class: 'k' }, k), h('div', { class: `v${tone ? ` tone-text-${tone}` : ''}` }, v));
    const items = [item('Pods reporting', num(pods ?? 0))];
    if (rep) {
      items.push(desired === null ? item('Ready', h('span', { class: 'muted small' }, WHY.noKube))
        : item('Ready / desired', `${num(ready ?? 0)} / ${num(desired)}`, (ready ?? 0) < desired ? 'warn' : 'ok'));
    }
    if (job) items.push(item('Active', num(active)), item('Succeeded', num(succeeded)), item('Failed', num(failed), failed > 0 ? 'bad' : undefined));
    items.push(item('CPU now', cores(cpuNow)), item('Memory now', bytes(memNow)));
    return h('div', { class: 'grid info' }, items);
  });

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
    grid('one', info),
    grid('two', cpu, mem, rx, tx),
    grid('one', podTablePanel(ctx, { extra: via, kubeVia: via, why, title: 'Pods' })));
}
