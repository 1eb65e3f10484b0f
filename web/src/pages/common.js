// pages/common.js — small pieces shared by the pages: page header, grids,
// stat cards, result maps, links, the standard "not collected" sentences.

import { h } from '../dom.js';
import { href } from '../state.js';
import { chart, fromMatrix } from '../chart.js';

export const WHY = {
  noPods: 'No pods report on this cluster: no container_* series. The agent reports pods from the node’s cgroups when the node runs Kubernetes.',
  noPodsNs: (ns) => `No pods of namespace “${ns}” report: no container_* series carry it.`,
  noKube: 'Cluster state is not collected: start the server with --cluster-state or run kmon agent --mode cluster.',
  noNodes: 'No node reports: no node_* series. Start kmon agent on the nodes, pointed at this server.',
  noData: 'No samples in this time range.',
};

export function pageHead(title, sub, ...extra) {
  return h('div', { class: 'page-head' }, h('div', null, h('h1', null, title), sub ? h('p', { class: 'sub' }, sub) : null), ...extra);
}

export const grid = (cls, ...panels) => h('div', { class: `grid ${cls}` }, panels.map((p) => p.el || p));

/** Map from a label key (or keys joined with "/") to the number. */
export function byKey(result, keys) {
  const ks = Array.isArray(keys) ? keys : [keys];
  const m = new Map();
  for (const s of result) {
    const v = Number(s.value[1]);
    if (Number.isFinite(v)) m.set(ks.map((k) => s.metric[k] || '').join('/'), v);
  }
  return m;
}

export const nodeHref = (n) => href(['nodes', n]);
export const nsHref = (ns) => href(['namespaces', ns], { namespace: '' });
export const podHref = (ns, p) => href(['pods', ns, p]);
export const workloadHref = (ns, kind, name) => href(['workloads', ns, kind, name]);

/** A link as a table cell or list entry. */
export const link = (url, text) => h('a', { href: url }, text);

/** A line chart in a panel body from range results. */
export function lineChart(q, parts, opts) {
  const series = parts.flatMap(([result, label]) => fromMatrix(result, label));
  if (!series.some((s) => s.points.size)) return null;
  const c = chart({ ...opts, series, time: q.time });
  q.dispose(c.destroy);
  return c.el;
}

/** A big number with a sparkline. */
export function stat({ value, unitText, sub, sparkEl, tone }) {
  return h('div', { class: `stat${tone ? ` tone-${tone}` : ''}` },
    h('div', { class: 'stat-value' }, value, unitText ? h('span', { class: 'stat-unit' }, unitText) : null),
    sub ? h('div', { class: 'stat-sub' }, sub) : null,
    sparkEl || null);
}

/** A horizontal bar (0..1) drawn with CSSOM width. */
export function bar(frac, tone) {
  const fill = h('span', { class: `bar-fill${tone ? ` tone-${tone}` : ''}` });
  fill.style.width = `${Math.max(0, Math.min(1, Number.isFinite(frac) ? frac : 0)) * 100}%`;
  return h('span', { class: 'bar' }, fill);
}

export const toneFor = (frac) => (frac >= 0.9 ? 'bad' : frac >= 0.75 ? 'warn' : 'ok');

/** A pod's owner as a workload: a ReplicaSet "name-<hash>" is its Deployment "name". */
export function ownerOf(kind, name) {
  if (kind === 'ReplicaSet') return { kind: 'Deployment', name: (name || '').replace(/-[a-z0-9]{8,10}$/, '') };
  return { kind, name };
}
