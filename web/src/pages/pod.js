// pages/pod.js — one pod: its facts (node, workload, QoS, phase, start,
// restarts), per-container CPU with request and limit lines, memory working
// set with its limit, CPU throttling, network, restarts and OOM kills, and its
// recent logs (podLogs: container picker, live tail, links to the Logs page).

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { pod, eq } from '../queries.js';
import { href } from '../state.js';
import { cores, bytes, bytesRate, pct, num, duration } from '../units.js';
import { WHY, pageHead, grid, lineChart, nodeHref, workloadHref, link, ownerOf } from './common.js';
import { podLogs, podLogsHref, podEventsHref } from './podlogs.js';

export function mount(root, ctx) {
  const { ns, pod: name } = ctx.params;
  const P = [eq('pod', name)];
  const why = `Pod ${ns}/${name} sent no container series in this time range: it may not run (pending or gone), or its node runs no kmon agent.`;
  const chartPanel = (id, title, sub, build, whyEmpty = why) => panel(ctx, { name: id, title, sub }).load(async (q) => (await build(q, await q.filter())) || empty(whyEmpty));

  const info = panel(ctx, { name: 'pod-info', title: 'Pod' }).load(async (q) => {
    const f = await q.filter();
    const [ci, ki, ph, rs, st] = await Promise.all([q.instant(pod.info(f, P)), q.instant(pod.kubeInfo(f, P)), q.instant(pod.phase(f, P)), q.scalar(pod.restarts(f, P)), q.scalar(pod.startTime(f, P))]);
    if (!ci.length && !ki.length) return empty(why);
    const m = { ...(ki[0]?.metric || {}), ...(ci[0]?.metric || {}) };
    const o = m.workload ? { kind: m.workload_kind, name: m.workload } : ownerOf(m.created_by_kind, m.created_by_name);
    const kind = o.kind;
    const owner = o.name;
    const item = (k, v) => h('div', { class: 'info-item' }, h('div', { class: 'k' }, k), h('div', { class: 'v' }, v ?? '—'));
    return h('div', { class: 'grid info' },
      item('Node', m.node ? link(nodeHref(m.node), m.node) : null),
      item('Workload', owner ? link(workloadHref(ns, kind, owner), `${owner} · ${kind}`) : 'none'),
      item('QoS class', m.qos_class),
      item('Phase', ph[0]?.metric.phase || (ci.length ? 'Running' : null)),
      item('Started', st ? `${duration(q.time.end - st)} ago` : null),
      item('Restarts', rs === null ? (ph.length ? '0' : null) : num(rs)));
  });

  /** Request and limit lines, one pair per container (from cluster state, else the cgroup's limit). */
  const lines = (reqR, limR, limSpec) => {
    const many = new Set([...reqR, ...limR].map((s) => s.metric.container)).size > 1;
    const name = (what, s) => (many ? `${what} ${s.metric.container}` : what);
    const out = [
      ...reqR.map((s) => ({ label: name('request', s), value: Number(s.value[1]), color: '#f59e0b' })),
      ...limR.map((s) => ({ label: name('limit', s), value: Number(s.value[1]), color: '#ef4444' })),
    ];
    if (!limR.length && limSpec !== null) out.push({ label: 'limit', value: limSpec, color: '#ef4444' });
    return out;
  };
  const cpu = chartPanel('cpu', 'CPU by container', 'cores; requests and limits', async (q, f) => {
    const [r, req, lim, limSpec] = await Promise.all([q.range(pod.cpuBy(f, 'container', q.win, P)), q.instant(pod.reqBy(f, 'container', 'cpu', P)), q.instant(pod.limBy(f, 'container', 'cpu', P)), q.scalar(pod.cpuLimitSpec(f, P))]);
    return lineChart(q, [[r, (m) => m.container]], { unit: cores, consts: lines(req, lim, limSpec) });
  });
  const mem = chartPanel('memory', 'Memory working set by container', 'bytes; requests and limits', async (q, f) => {
    const [r, req, lim, limSpec] = await Promise.all([q.range(pod.memBy(f, 'container', P)), q.instant(pod.reqBy(f, 'container', 'memory', P)), q.instant(pod.limBy(f, 'container', 'memory', P)), q.scalar(pod.memLimitSpec(f, P))]);
    return lineChart(q, [[r, (m) => m.container]], { unit: bytes, consts: lines(req, lim, limSpec) });
  });
  const thr = chartPanel('throttling', 'CPU throttling', 'share of CFS periods throttled', async (q, f) =>
    lineChart(q, [[await q.range(pod.throttled(f, q.win, P)), (m) => m.container]], { unit: pct }),
  `Pod ${ns}/${name} reports no CFS period series: its containers have no CPU limit, so they are never throttled.`);
  const net = chartPanel('network', 'Network', 'bytes/s', async (q, f) => {
    const [rx, tx] = await Promise.all([q.range(pod.netRxBy(f, 'pod', q.win, P)), q.range(pod.netTxBy(f, 'pod', q.win, P))]);
    return lineChart(q, [[rx, 'received'], [tx, 'sent']], { unit: bytesRate });
  });
  const restarts = chartPanel('restarts', 'Restarts', 'total by container', async (q, f) =>
    lineChart(q, [[await q.range(pod.restartsBy(f, P)), (m) => m.container]], { unit: num }), WHY.noKube);

  root.append(
    pageHead(name, `Pod in namespace ${ns}`, h('span', { class: 'head-links' },
      h('a', { href: podLogsHref(ns, name), id: 'pod-head-logs' }, 'Logs'), h('a', { href: podEventsHref(ns, name), id: 'pod-head-events' }, 'Events'),
      h('a', { href: href('pods', { namespace: ns }), class: 'crumbs' }, '← All pods'))),
    grid('one', info),
    grid('two', cpu, mem, thr, net, restarts),
    grid('one', podLogs(ctx, ns, name)));
}
