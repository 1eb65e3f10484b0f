// pages/overview.js — the cluster at a glance: nodes and pods counts, CPU and
// memory against capacity (and requests), the firing alerts, the busiest
// namespaces, workloads and pods, the latest problems; big numbers with
// sparklines.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { node, pod } from '../queries.js';
import { cores, bytes, pct, ago, num } from '../units.js';
import { chart, fromMatrix } from '../chart.js';
import { WHY, pageHead, grid, stat, bar, toneFor, link, nodeHref, nsHref, podHref, workloadHref, lineChart } from './common.js';
import { WHY_ALERTS, loadAlerts, loadRules, alertingRules, byUrgency, sevRank, sevTone, mainLabel, since } from './alertlist.js';
import { href } from '../state.js';

function spark(q, result, unit, sparkHeight) {
  const series = fromMatrix(result, 'value');
  if (!series.some((s) => s.points.size)) return null;
  const c = chart({ series, unit, time: q.time, spark: true, sparkHeight });
  q.dispose(c.destroy);
  return c.el;
}

export function mount(root, ctx) {
  const pNodes = panel(ctx, { name: 'nodes', title: 'Nodes', cls: 'stat-panel' }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    const [up, known, hist] = await Promise.all([q.scalar(node.reporting(f)), q.scalar(node.known(f)), q.range(node.reporting(f))]);
    if (!known && !up) return empty(WHY.noNodes);
    const total = Math.max(known || 0, up || 0);
    const down = total - (up || 0);
    return stat({ value: `${up || 0}`, unitText: ` / ${total}`, sub: down ? `${down} not reporting` : 'all reporting', tone: down ? 'bad' : undefined, sparkEl: spark(q, hist, num) });
  });

  const pPods = panel(ctx, { name: 'pods', title: 'Pods running', cls: 'stat-panel' }).load(async (q) => {
    const f = await q.filter();
    const [running, total, hist] = await Promise.all([q.scalar(pod.running(f)), q.scalar(pod.count(f)), q.range(pod.running(f))]);
    if (!total) return empty(f.namespace ? WHY.noPodsNs(f.namespace) : WHY.noPods);
    const other = total - (running || 0);
    return stat({ value: `${running || 0}`, unitText: ` / ${total}`, sub: other > 0 ? `${other} not running` : 'all running', tone: other > 0 ? 'warn' : undefined, sparkEl: spark(q, hist, num) });
  });

  const resource = (name, title, used, cap, req, fmt) => panel(ctx, { name, title, cls: 'stat-panel' }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    const [u, c, r, hist] = await Promise.all([q.scalar(used(f, '5m')), q.scalar(cap(f)), q.scalar(req(f)), q.range(used(f, q.win))]);
    if (u === null && c === null) return empty(WHY.noNodes);
    const frac = c ? u / c : NaN;
    const sub = h('div', null,
      h('div', { class: 'stat-line' }, h('span', null, `${pct(frac)} of ${fmt(c)}`), bar(frac, toneFor(frac))),
      r !== null ? h('div', { class: 'stat-line muted' }, `requests ${fmt(r)} (${pct(c ? r / c : NaN)})`) : h('div', { class: 'stat-line muted' }, 'requests: cluster state not collected'));
    return stat({ value: fmt(u), sub, sparkEl: spark(q, hist, fmt) });
  });
  const pCpu = resource('cpu', 'CPU used', node.cpuUsed, node.cpuCap, (f) => pod.requests(f, 'cpu'), cores);
  const pMem = resource('memory', 'Memory used', (f) => node.memUsed(f), node.memCap, (f) => pod.requests(f, 'memory'), bytes);

  const pAlerts = panel(ctx, { name: 'firing-alerts', title: 'Firing alerts', cls: 'stat-panel', actions: h('a', { href: href('alerts'), class: 'panel-link' }, 'All alerts →') }).load(async (q) => {
    const [alerts, groups] = await Promise.all([loadAlerts(q), loadRules(q, { record: false })]);
    if (alerts === null || groups === null) return empty(WHY_ALERTS.rulesOff);
    if (!alerts.length && !alertingRules(groups).length) return empty(WHY_ALERTS.noRules);
    const firing = alerts.filter((a) => a.state === 'firing').sort(byUrgency);
    const pending = alerts.length - firing.length;
    const pendingNote = pending ? h('div', { class: 'stat-sub' }, link(href('alerts'), `${pending} pending`)) : null;
    if (!firing.length) return h('div', { class: 'stat' }, h('p', { class: 'ok-note' }, '✓ No alerts firing'), pendingNote);
    const bySev = new Map();
    for (const a of firing) { const s = a.labels?.severity || 'none'; bySev.set(s, (bySev.get(s) || 0) + 1); }
    const sevs = [...bySev].sort(([a], [b]) => sevRank(a) - sevRank(b) || a.localeCompare(b));
    const worst = sevTone(sevs[0][0]);
    const now = Date.now();
    return h('div', { class: `stat${worst ? ` tone-${worst === 'bad' ? 'bad' : 'warn'}` : ''}` },
      h('div', { class: 'stat-value' }, String(firing.length), h('span', { class: 'stat-unit' }, ' firing')),
      h('div', { class: 'stat-sub sev-counts' }, sevs.map(([sv, n]) => h('span', { class: `badge ${sevTone(sv)}`, dataset: { severity: sv } }, `${n} ${sv}`))),
      h('ul', { class: 'firing-list' }, firing.slice(0, 3).map((a) => h('li', null,
        link(href('alerts', { q: a.labels?.alertname || '' }), a.labels?.alertname || 'alert'),
        mainLabel(a.labels) ? h('span', { class: 'muted' }, ` ${mainLabel(a.labels)}`) : null,
        h('span', { class: 'muted since' }, since(a.activeAt, now))))),
      firing.length > 3 ? h('div', { class: 'stat-sub' }, link(href('alerts'), `and ${firing.length - 3} more`)) : null,
      pendingNote);
  });

  const top = (name, title, keys, label, hrefOf) => panel(ctx, { name, title, sub: 'by CPU, with its trend' }).load(async (q) => {
    const f = await q.filter();
    const ks = keys.split(', ');
    const keyOf = (m) => ks.map((k) => m[k] || '').join('/');
    const cpu = await q.instant(pod.topCpu(f, keys, 5));
    if (!cpu.length) return empty(f.namespace ? WHY.noPodsNs(f.namespace) : WHY.noPods);
    const rows = cpu.map((s) => ({ m: s.metric, cpu: Number(s.value[1]) })).sort((a, b) => b.cpu - a.cpu);
    // The rows' memory and CPU trend, selected by their names (not a second top-k).
    const [mem, hist] = await Promise.all([q.instant(pod.memOf(f, keys, rows.map((r) => r.m))),
      q.range(pod.cpuOf(f, keys, rows.map((r) => r.m), q.win))]);
    const memOf = new Map(mem.map((s) => [keyOf(s.metric), Number(s.value[1])]));
    const histOf = new Map(hist.map((s) => [keyOf(s.metric), s]));
    return h('ol', { class: 'toplist' }, rows.map((r) => {
      const s = histOf.get(keyOf(r.m));
      return h('li', null,
        h('span', { class: 'top-name' }, link(hrefOf(r.m), label(r.m))),
        (s && spark(q, [s], cores, 24)) || h('span', null),
        h('span', { class: 'num' }, cores(r.cpu)),
        h('span', { class: 'num muted' }, bytes(memOf.get(keyOf(r.m)))));
    }));
  });
  const pTopNs = top('top-namespaces', 'Busiest namespaces', 'namespace', (m) => m.namespace || '(none)', (m) => nsHref(m.namespace));
  const pTopWl = top('top-workloads', 'Busiest workloads', 'namespace, workload_kind, workload', (m) => h('span', { title: `${m.workload_kind || 'Pod'} in ${m.namespace}` }, m.workload || '(standalone)', h('span', { class: 'muted kind' }, ` ${m.workload_kind || 'Pod'}`)),
    (m) => (m.workload ? workloadHref(m.namespace, m.workload_kind || 'Pod', m.workload) : nsHref(m.namespace)));
  const pTopPods = top('top-pods', 'Busiest pods', 'namespace, pod', (m) => `${m.namespace}/${m.pod}`, (m) => podHref(m.namespace, m.pod));

  const pProblems = panel(ctx, { name: 'problems', title: 'Latest problems' }).load(async (q) => {
    const fn = await q.filter({ nodes: true }).catch(() => null);
    const f = await q.filter();
    const w = q.time.span > 86400 ? '1d' : `${Math.max(300, Math.round(q.time.span))}s`;
    // Firing alerts from the rule manager, as the alerts card reads them (one call per
    // refresh for both): the ALERTS series start only after a restart's restore point.
    const [silent, unknown, restarting, pending, firing, kubePods] = await Promise.all([
      fn ? q.instant(node.notReporting(fn)) : [], fn ? q.instant(node.unknownSilent(fn)) : [],
      q.instant(pod.restarting(f, w)), q.instant(pod.pending(f)), loadAlerts(q), q.scalar(pod.kubeCount(f))]);
    const alerts = (firing || []).filter((a) => a.state === 'firing').map((a) => ({ metric: a.labels || {} }));
    const noKube = kubePods === null ? h('p', { class: 'muted' }, `Pod restarts and pending pods are unknown. ${WHY.noKube}`) : null;
    const groups = [
      ['alert', 'alerts firing', alerts.sort((a, b) => sevRank(a.metric.severity) - sevRank(b.metric.severity)).map((s) => [`${s.metric.alertname || 'alert'} firing`, [s.metric.severity, s.metric.namespace, s.metric.pod || s.metric.node].filter(Boolean).join(' · '), href('alerts', { q: s.metric.alertname || '' })])],
      ['node', 'nodes not reporting', [
        ...silent.sort((a, b) => a.value[1] - b.value[1]).map((s) => [`Node ${s.metric.node} not reporting`, `last seen ${ago(Number(s.value[1]))}`, nodeHref(s.metric.node)]),
        ...unknown.map((s) => [`Node ${s.metric.node} never reported`, 'known to the cluster, no node_* series in a day', null])]],
      ['pod', 'pods restarting', restarting.sort((a, b) => b.value[1] - a.value[1]).map((s) => [`Pod ${s.metric.namespace}/${s.metric.pod} restarting`, `${num(Math.round(Number(s.value[1])))} restarts in the range`, podHref(s.metric.namespace, s.metric.pod)])],
      ['pod', 'pods not running', pending.map((s) => [`Pod ${s.metric.namespace}/${s.metric.pod} ${s.metric.phase}`, '', podHref(s.metric.namespace, s.metric.pod)])],
    ].filter((g) => g[2].length);
    if (!groups.length) {
      return h('div', null, h('p', { class: 'ok-note' }, noKube ? '✓ Every node reports and no alert fires.' : '✓ No problems: every node reports, no pod restarts or waits, no alert fires.'), noKube);
    }
    const items = groups.flatMap(([kind, , list]) => list.slice(0, 5).map((it) => [kind, ...it]));
    return h('div', null,
      h('p', { class: 'problem-summary' }, groups.map(([kind, label, list]) => h('span', { class: `badge kind-${kind}` }, `${list.length} ${label}`))),
      h('ul', { class: 'problems' }, items.map(([kind, title, detail, url]) => h('li', { class: `problem kind-${kind}` },
        h('span', { class: 'badge' }, kind), h('span', { class: 'problem-title' }, url ? link(url, title) : title), detail ? h('span', { class: 'muted' }, detail) : null))), noKube);
  });

  const usage = (name, title, used, cap, req, fmt) => panel(ctx, { name, title, sub: 'used, requests and capacity' }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    const [r, c, rq] = await Promise.all([q.range(used(f, q.win)), q.scalar(cap(f)), q.scalar(req(f))]);
    return lineChart(q, [[r, 'used']], { unit: fmt, consts: [{ label: 'capacity', value: c, color: '#ef4444' }, { label: 'requests', value: rq, color: '#f59e0b' }] }) || empty(WHY.noData);
  });
  const pCpuChart = usage('cpu-usage', 'Cluster CPU', node.cpuUsed, node.cpuCap, (f) => pod.requests(f, 'cpu'), cores);
  const pMemChart = usage('memory-usage', 'Cluster memory', (f) => node.memUsed(f), node.memCap, (f) => pod.requests(f, 'memory'), bytes);

  root.append(
    pageHead('Overview', ctx.filter.namespace ? `Namespace ${ctx.filter.namespace}` : 'The whole cluster'),
    grid('stats', pNodes, pPods, pCpu, pMem, pAlerts),
    grid('three', pTopNs, pTopWl, pTopPods),
    grid('two', pCpuChart, pMemChart),
    grid('one', pProblems));
}

