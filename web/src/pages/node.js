// pages/node.js — one node: facts (kernel, cores, memory, uptime, last seen),
// charts of CPU by mode, memory, disk and network I/O, filesystem fill, load
// and pressure, the filesystems table and the pods running on it.

import { h } from '../dom.js';
import { panel, empty } from '../panel.js';
import { node, pod, eq } from '../queries.js';
import { patch, href } from '../state.js';
import { table } from '../table.js';
import { cores, bytes, bytesRate, pct, num, ago, duration } from '../units.js';
import { WHY, pageHead, grid, byKey, lineChart, podHref, bar, toneFor } from './common.js';

export function mount(root, ctx) {
  const n = ctx.params.node;
  const O = node.one;
  const noData = `Node ${n} sent no such series in this time range.`;

  const info = panel(ctx, { name: 'node-info', title: 'Node' }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    const [uname, c, mem, boot, seen] = await Promise.all([q.instant(O.uname(f, n)), q.scalar(O.cores(f, n)), q.scalar(O.memTotal(f, n)), q.scalar(O.boot(f, n)), q.scalar(O.lastSeen(f, n))]);
    if (seen === null && !uname.length) return empty(`Node ${n} has sent nothing in the last day.`);
    const u = uname[0]?.metric || {};
    const item = (k, v) => h('div', { class: 'info-item' }, h('div', { class: 'k' }, k), h('div', { class: 'v' }, v));
    return h('div', { class: 'grid info' },
      item('Kernel', u.release ? `${u.sysname || ''} ${u.release}` : '—'),
      item('Architecture', u.machine || '—'),
      item('Cores', num(c)),
      item('Memory', bytes(mem)),
      item('Uptime', boot ? duration(q.time.end - boot) : '—'),
      item('Last seen', seen !== null && seen < 300 ? ago(seen) : h('span', { class: 'error' }, `${ago(seen)} (not reporting)`)));
  });

  const chartPanel = (name, title, sub, build) => panel(ctx, { name, title, sub }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    return (await build(q, f)) || empty(noData);
  });

  const cpu = chartPanel('cpu', 'CPU by mode', 'cores busy, stacked', async (q, f) => {
    const [modes, total] = await Promise.all([q.range(O.cpuByMode(f, n, q.win)), q.scalar(O.cores(f, n))]);
    return lineChart(q, [[modes, (m) => m.mode]], { unit: cores, stacked: true, consts: [{ label: 'cores', value: total }] });
  });
  const mem = chartPanel('memory', 'Memory', 'bytes', async (q, f) => {
    const [used, cache, total] = await Promise.all([q.range(O.memUsed(f, n)), q.range(O.memCache(f, n)), q.scalar(O.memTotal(f, n))]);
    return lineChart(q, [[used, 'used'], [cache, 'cache + buffers']], { unit: bytes, consts: [{ label: 'total', value: total }] });
  });
  const disk = chartPanel('disk-io', 'Disk I/O', 'bytes/s by device', async (q, f) => {
    const [r, w] = await Promise.all([q.range(O.diskRead(f, n, q.win)), q.range(O.diskWrite(f, n, q.win))]);
    return lineChart(q, [[r, (m) => `read ${m.device}`], [w, (m) => `write ${m.device}`]], { unit: bytesRate });
  });
  const net = chartPanel('network-io', 'Network I/O', 'bytes/s by interface', async (q, f) => {
    const [r, t] = await Promise.all([q.range(O.netRx(f, n, q.win)), q.range(O.netTx(f, n, q.win))]);
    return lineChart(q, [[r, (m) => `rx ${m.device}`], [t, (m) => `tx ${m.device}`]], { unit: bytesRate });
  });
  const fsChart = chartPanel('filesystem-fill', 'Filesystem fill', 'used of size', async (q, f) =>
    lineChart(q, [[await q.range(O.fsFill(f, n)), (m) => m.mountpoint]], { unit: pct }));
  const load = chartPanel('load', 'Load average', '', async (q, f) => {
    const [a, b, c] = await Promise.all(['1', '5', '15'].map((w) => q.range(O.load(f, n, w))));
    return lineChart(q, [[a, 'load1'], [b, 'load5'], [c, 'load15']], { unit: num });
  });
  const pressure = panel(ctx, { name: 'pressure', title: 'Pressure', sub: 'share of time some task waited' }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    const parts = await Promise.all(['cpu', 'memory', 'io'].map((r) => q.range(O.pressure(f, n, r, q.win))));
    return lineChart(q, parts.map((p, i) => [p, ['cpu', 'memory', 'io'][i]]), { unit: pct })
      || empty(`Node ${n} reports no pressure (PSI) series: its kernel may not expose /proc/pressure.`);
  });

  const fsTable = panel(ctx, { name: 'filesystems', title: 'Filesystems' }).load(async (q) => {
    const f = await q.filter({ nodes: true });
    const [size, avail] = await Promise.all([q.instant(O.fsSize(f, n)), q.instant(O.fsAvail(f, n))]);
    if (!size.length) return empty(noData);
    const av = byKey(avail, 'mountpoint');
    const rows = size.map((s) => {
      const sz = Number(s.value[1]); const a = av.get(s.metric.mountpoint);
      return { mount: s.metric.mountpoint, fstype: s.metric.fstype, device: s.metric.device, size: sz, used: a !== undefined ? sz - a : null, fill: a !== undefined && sz ? 1 - a / sz : null };
    });
    return table([
      { id: 'mount', label: 'Mount point', width: 'minmax(90px, 2fr)' }, { id: 'device', label: 'Device', width: 'minmax(70px, 1.4fr)' },
      { id: 'fstype', label: 'Type', width: 'minmax(50px, .7fr)' },
      { id: 'size', label: 'Size', num: true, cell: (r) => bytes(r.size), width: 'minmax(66px, 1fr)' },
      { id: 'used', label: 'Used', num: true, cell: (r) => bytes(r.used), width: 'minmax(66px, 1fr)' },
      { id: 'fill', label: 'Fill', num: true, cell: (r) => h('span', { class: 'cell-bar' }, bar(r.fill, toneFor(r.fill)), pct(r.fill)), width: 'minmax(96px, 1.2fr)' },
    ], { rows, key: (r) => r.mount, label: 'Filesystems', sort: 'mount' }).el;
  });

  const pods = panel(ctx, { name: 'node-pods', title: 'Pods on this node' }).load(async (q) => {
    const f = await q.filter();
    const on = [eq('node', n)];
    const b = pod.by(f, 'namespace, pod', on);
    const [cpuR, memR] = await Promise.all([q.instant(b.cpu), q.instant(b.mem)]);
    if (!cpuR.length && !memR.length) return empty(f.namespace ? `No pods of namespace “${f.namespace}” report on node ${n}.` : `No pods report on node ${n}: no container_* series name it. The agent reports pods from the node’s cgroups when the node runs Kubernetes.`);
    const c = byKey(cpuR, ['namespace', 'pod']); const m = byKey(memR, ['namespace', 'pod']);
    const keys = new Set([...c.keys(), ...m.keys()]);
    const rows = [...keys].map((k) => { const [ns, p] = k.split('/'); return { key: k, ns, pod: p, cpu: c.get(k) ?? null, mem: m.get(k) ?? null }; });
    return table([
      { id: 'pod', label: 'Pod' }, { id: 'ns', label: 'Namespace' },
      { id: 'cpu', label: 'CPU', num: true, cell: (r) => cores(r.cpu) }, { id: 'mem', label: 'Memory', num: true, cell: (r) => bytes(r.mem) },
    ], { rows, key: (r) => r.key, href: (r) => podHref(r.ns, r.pod), label: 'Pods on this node', sort: ctx.query.sort || '-cpu', onSort: (s) => patch({ sort: s }, { push: false, silent: true }), maxHeight: '480px' }).el;
  });

  root.append(
    pageHead(n, null, h('a', { href: href('nodes'), class: 'crumbs' }, '← All nodes')),
    grid('one', info),
    grid('two', cpu, mem, disk, net, load, pressure),
    grid('two', fsChart, fsTable),
    grid('one', pods));
}
