// pages/workloads.js — Deployments, StatefulSets, DaemonSets, Jobs (and any
// other owner the agent names) in one table: pods, ready/desired (cluster
// state), CPU and memory used and requested. A kind selector narrows it.

import { h, select } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod, kube, eq } from '../queries.js';
import { patch } from '../state.js';
import { table } from '../table.js';
import { cores, bytes, num } from '../units.js';
import { WHY, pageHead, byKey, workloadHref } from './common.js';

const KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'];

export function mount(root, ctx) {
  const kind = ctx.query.kind || '';
  const kindSel = select({ id: 'workload-kind', 'aria-label': 'Kind', onchange: (e) => patch({ kind: e.target.value }) },
    [['', 'All kinds'], ...KINDS.map((k) => [k, `${k}s`])], kind);
  const p = panel(ctx, { name: 'workloads-table', title: 'Workloads' }).load(async (q) => {
    const f = await q.filter();
    const K = 'namespace, workload_kind, workload';
    const extra = ['workload!=""', kind ? eq('workload_kind', kind) : null].filter(Boolean);
    const b = pod.by(f, K, extra);
    const rep = kube.replicas(f);
    const [jobA] = kube.jobs(f);
    const [cpu, mem, pods, cpuReq, memReq, ...kr] = await Promise.all([
      q.instant(b.cpu), q.instant(b.mem), q.instant(b.pods), q.instant(kube.reqByWorkload(f, 'cpu')), q.instant(kube.reqByWorkload(f, 'memory')),
      ...Object.values(rep).flatMap(([d, r]) => [q.instant(d), q.instant(r)]), q.instant(jobA)]);
    const keys3 = ['namespace', 'workload_kind', 'workload'];
    const m = { cpu: byKey(cpu, keys3), mem: byKey(mem, keys3), pods: byKey(pods, keys3), cpuReq: byKey(cpuReq, keys3), memReq: byKey(memReq, keys3) };
    const desired = new Map(), ready = new Map();
    Object.entries(rep).forEach(([k, [, , label]], i) => {
      for (const s of kr[2 * i]) desired.set(`${s.metric.namespace}/${k}/${s.metric[label]}`, Number(s.value[1]));
      for (const s of kr[2 * i + 1]) ready.set(`${s.metric.namespace}/${k}/${s.metric[label]}`, Number(s.value[1]));
    });
    for (const s of kr[kr.length - 1]) ready.set(`${s.metric.namespace}/Job/${s.metric.job_name}`, Number(s.value[1]));
    const keys = new Set([...m.pods.keys(), ...[...desired.keys()].filter((k) => !kind || k.split('/')[1] === kind)]);
    if (!keys.size) return empty(f.namespace ? WHY.noPodsNs(f.namespace) : (kind ? `No ${kind} reports pods in this cluster.` : WHY.noPods));
    const rows = [...keys].map((k) => {
      const [ns, kd, name] = k.split('/');
      return { key: k, ns, kind: kd, name, pods: m.pods.get(k) ?? null, cpu: m.cpu.get(k) ?? null, mem: m.mem.get(k) ?? null,
        cpuReq: m.cpuReq.get(k) ?? null, memReq: m.memReq.get(k) ?? null, desired: desired.get(k) ?? null, ready: ready.get(k) ?? null };
    });
    const hasKube = desired.size > 0 || m.cpuReq.size > 0;
    const readyCell = (r) => {
      if (r.kind === 'Job') return r.ready === null ? null : `${num(r.ready)} active`;
      if (r.desired === null) return null;
      return h('span', { class: r.ready < r.desired ? 'badge warn' : 'badge ok' }, `${num(r.ready ?? 0)} / ${num(r.desired)}`);
    };
    const cols = [
      { id: 'name', label: 'Workload', width: 'minmax(180px, 2.4fr)' },
      { id: 'kind', label: 'Kind', width: 'minmax(100px, 1fr)' },
      { id: 'ns', label: 'Namespace', width: 'minmax(110px, 1.2fr)' },
      { id: 'pods', label: 'Pods', num: true, cell: (r) => num(r.pods), width: 'minmax(60px, .6fr)' },
      ...(hasKube ? [{ id: 'ready', label: 'Ready', num: true, value: (r) => (r.desired ? (r.ready ?? 0) / r.desired : r.ready), cell: readyCell, width: 'minmax(80px, .8fr)' }] : []),
      { id: 'cpu', label: 'CPU', num: true, cell: (r) => cores(r.cpu) },
      ...(hasKube ? [{ id: 'cpuReq', label: 'CPU requests', num: true, cell: (r) => cores(r.cpuReq) }] : []),
      { id: 'mem', label: 'Memory', num: true, cell: (r) => bytes(r.mem) },
      ...(hasKube ? [{ id: 'memReq', label: 'Memory requests', num: true, cell: (r) => bytes(r.memReq) }] : []),
    ];
    return h('div', null, table(cols, { rows, key: (r) => r.key, href: (r) => workloadHref(r.ns, r.kind, r.name), label: 'Workloads',
      sort: ctx.query.sort || '-cpu', onSort: (s) => patch({ sort: s }, { push: false, silent: true }) }).el,
    hasKube ? null : h('p', { class: 'empty' }, `Readiness and requests: ${WHY.noKube}`));
  });
  root.append(pageHead('Workloads', 'Deployments, StatefulSets, DaemonSets and Jobs, now', h('label', { class: 'inline' }, h('span', { class: 'muted' }, 'Kind '), kindSel)), p.el);
}
