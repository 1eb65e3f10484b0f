// pages/podlogs.js — a pod's recent logs on its page: the newest lines of the
// range (one query_range, backward, limited), a container picker, live tail,
// and links to the Logs page with the pod's selector filled in and to its
// Kubernetes events ({source="kubernetes-events", kind="Pod", name=...}).

import { h, clear } from '../dom.js';
import * as api from '../api.js';
import { panel, empty } from '../panel.js';
import { href } from '../state.js';
import { num } from '../units.js';
import { lq } from './logquery.js';
import { lineList, tailer, noLogApi } from './logview.js';

const LIMIT = 200;

/** The Logs page's URL for a query of namespace ns (the namespace goes to the filter). */
export const logsHref = (ns, stored) => href('logs', { namespace: ns, expr: stored, grep: '' });
/** A pod's lines on the Logs page. */
export const podLogsHref = (ns, pod, container) => logsHref(ns, `{pod=${lq(pod)}${container ? `, container=${lq(container)}` : ''}}`);
/** A pod's Kubernetes events on the Logs page. */
export const podEventsHref = (ns, pod) => logsHref(ns, `{source="kubernetes-events", kind="Pod", name=${lq(pod)}}`);

/** The "Logs" panel of pod ns/pod. */
export function podLogs(ctx, ns, pod) {
  let container = '';
  const pick = h('select', { id: 'pod-logs-container', 'aria-label': 'Container', class: 'picker' }, h('option', { value: '' }, 'All containers'));
  const liveBtn = h('button', { type: 'button', class: 'btn live', id: 'pod-logs-live', 'aria-pressed': 'false', title: 'Show new lines as they arrive' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live tail');
  const open = h('a', { href: podLogsHref(ns, pod), class: 'panel-link', id: 'pod-logs-open' }, 'Open in Logs →');
  const events = h('a', { href: podEventsHref(ns, pod), class: 'panel-link', id: 'pod-events' }, 'Events');
  const actions = h('span', { class: 'pod-logs-actions' }, pick, liveBtn, events, open);
  const query = () => `{namespace=${lq(ns)}, pod=${lq(pod)}${container ? `, container=${lq(container)}` : ''}}`;
  const view = lineList({ compact: true, showContainer: true });
  const status = h('p', { class: 'tcount log-count', role: 'status' });
  const wrap = h('div', { class: 'log-wrap pod-logs' }, status, h('div', { class: 'log-scroll' }, view.el));
  let filled = false;

  const p = panel(ctx, { name: 'pod-logs', title: 'Logs', sub: 'newest first', actions }).load(async (q) => {
    const t = q.time;
    const sel = query();
    let d;
    try {
      d = await q.call(`podlogs|${sel}|${t.start}|${t.end}`, (sig) => api.lokiQueryRange({ query: sel, start: t.start, end: t.end, limit: LIMIT, direction: 'backward' }, sig),
        `${sel}  (limit ${LIMIT}, backward)`);
    } catch (e) {
      if (noLogApi(e)) return empty('This kmon server has no log API (/loki/api/v1).');
      throw e;
    }
    if (!filled) {
      filled = true;
      api.lokiLabelValues('container', { query: `{namespace=${lq(ns)}, pod=${lq(pod)}}`, start: t.start - 86400, end: t.end }, q.ctx.signal).then((cs) => {
        clear(pick).append(h('option', { value: '' }, 'All containers'), ...cs.map((c) => h('option', { value: c, selected: c === container }, c)));
        pick.hidden = cs.length < 2 && !container;
      }).catch(() => {});
    }
    const n = view.reset(d.result, t.span);
    status.textContent = `${num(n)} line${n === 1 ? '' : 's'}${n >= LIMIT ? ` (the newest ${LIMIT}: open in Logs for more)` : ''}`;
    if (!n && !tail.running) {
      return empty(`Pod ${ns}/${pod}${container ? ` (container ${container})` : ''} wrote no log line in this range, or its node’s agent does not collect logs.`);
    }
    return wrap;
  });
  pick.hidden = true;
  pick.addEventListener('change', () => {
    container = pick.value;
    open.href = podLogsHref(ns, pod, container);
    ctx.run();
  });

  const tail = tailer({
    view, query, signal: ctx.signal,
    onState: (text, bad) => {
      status.textContent = text || `${num(view.count)} lines`;
      status.classList.toggle('error', !!bad);
      if (view.count && !wrap.parentNode) { clear(p.body).append(wrap); p.el.dataset.state = 'ready'; }
    },
  });
  liveBtn.addEventListener('click', () => {
    const on = !tail.running;
    liveBtn.setAttribute('aria-pressed', String(on));
    liveBtn.classList.toggle('on', on);
    if (on) tail.start(); else tail.stop();
  });
  return p;
}
