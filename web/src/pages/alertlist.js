// pages/alertlist.js — what the Alerts page and the overview's card share: the
// current alerts and rules of a refresh cycle (the alerts filtered as the
// filter bar says), severities in order, an alert's identifying and main
// labels, its age and value, and the sentences of the empty states.

import { h } from '../dom.js';
import * as api from '../api.js';
import { alertFilter } from '../queries.js';
import { ago, num } from '../units.js';

export const WHY_ALERTS = {
  noRules: 'No alert rules loaded: the server evaluates no alerting rule (start it with --rules \'dir/*.yaml\', or keep the default pack with --default-rules).',
  noRuleGroups: 'No rules loaded: the server evaluates no rule file (start it with --rules \'dir/*.yaml\', or keep the default pack with --default-rules).',
  rulesOff: 'This server evaluates no rules: it answers no /api/v1/rules or /api/v1/alerts (a kmon from before rules).',
  historyOff: 'Alert history is off: this server keeps no alert transitions (it runs with --alert-history-retention 0, or is a kmon from before the history).',
  noHistory: 'No alert was pending or firing in this time range.',
};

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
/** Order of a severity: critical first, unknown and none last. */
export const sevRank = (s) => {
  const i = SEVERITIES.indexOf(String(s || '').toLowerCase());
  return i < 0 ? SEVERITIES.length : i;
};
/** The badge class of a severity. */
export const sevTone = (s) => ['bad', 'bad', 'warn', 'info'][sevRank(s)] || '';
export const stateTone = (s) => (s === 'firing' ? 'bad' : s === 'pending' ? 'warn' : '');

export function sevBadge(s) {
  return s ? h('span', { class: `badge sev ${sevTone(s)}` }, s) : h('span', { class: 'muted' }, 'none');
}
export function stateBadge(s) {
  return h('span', { class: `badge state ${stateTone(s)}` }, s || 'inactive');
}

/** The labels that tell an alert of a rule from its siblings: all but alertname and severity. */
export function idLabels(labels) {
  return Object.entries(labels || {}).filter(([k]) => k !== 'alertname' && k !== 'severity')
    .sort(([a], [b]) => a.localeCompare(b));
}
export const labelText = (labels) => idLabels(labels).map(([k, v]) => `${k}=${v}`).join(', ');
export function labelChips(labels) {
  const l = idLabels(labels);
  return l.length ? h('span', { class: 'chips' }, l.map(([k, v]) => h('span', { class: 'chip' }, h('span', { class: 'muted' }, `${k}=`), v)))
    : h('span', { class: 'muted' }, 'no labels');
}

const MAIN = ['pod', 'deployment', 'statefulset', 'daemonset', 'job_name', 'workload', 'horizontalpodautoscaler', 'persistentvolumeclaim', 'node', 'namespace', 'instance', 'job'];
/** The label a person names the alert by: the pod (with its namespace), the node, … */
export function mainLabel(labels) {
  const l = labels || {};
  for (const k of MAIN) {
    if (!l[k]) continue;
    return l.namespace && k !== 'namespace' && k !== 'node' && k !== 'instance' && k !== 'job' ? `${l.namespace}/${l[k]}` : l[k];
  }
  const rest = idLabels(l).filter(([k]) => k !== 'cluster');
  return rest.length ? `${rest[0][0]}=${rest[0][1]}` : '';
}

/** RFC 3339 or ms → ms (NaN when neither). */
export const msOf = (t) => (typeof t === 'number' ? t : Date.parse(t));

/** "3m 12s ago", with the local time as its title. */
export function since(activeAt, now = Date.now()) {
  const t = msOf(activeAt);
  if (!Number.isFinite(t)) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: new Date(t).toISOString(), title: new Date(t).toLocaleString() }, ago((now - t) / 1000));
}

/** An alert's value (Prometheus sends "2.5e+02"). */
export function valueText(v) {
  const x = Number(v);
  if (v === undefined || v === null || v === '') return '—';
  return Number.isFinite(x) ? num(x) : String(v);
}

/** The summary of an alert: its summary annotation, or its description. */
export const summaryOf = (a) => a.annotations?.summary || a.annotations?.description || a.annotations?.message || '';

const notFound = (e) => e instanceof api.ApiError && e.status === 404;

/**
 * The cycle's current alerts that pass the filter (the call is shared by the page's panels),
 * or null when the server answers no /api/v1/alerts.
 */
export async function loadAlerts(q) {
  const f = alertFilter(q.ctx.filter);
  try {
    const all = await q.call('alerts', api.alerts, `GET /api/v1/alerts: ${f.text}`);
    return all.filter((a) => f.test(a.labels || {}));
  } catch (e) {
    if (notFound(e)) return null;
    throw e;
  }
}

/**
 * The cycle's rule groups, or null when the server answers no /api/v1/rules. record: say it
 * in data-queries (the overview's card only asks whether any alert rule is loaded).
 */
export async function loadRules(q, { record = true } = {}) {
  try {
    return await q.call('rules', api.rules, record ? 'GET /api/v1/rules' : null);
  } catch (e) {
    if (notFound(e)) return null;
    throw e;
  }
}

export const alertingRules = (groups) => (groups || []).flatMap((g) => g.rules || []).filter((r) => r.type === 'alerting');

/** Firing first, then by severity, then the oldest. */
export function byUrgency(a, b) {
  return (a.state === 'firing' ? 0 : 1) - (b.state === 'firing' ? 0 : 1)
    || sevRank(a.labels?.severity) - sevRank(b.labels?.severity)
    || msOf(a.activeAt) - msOf(b.activeAt);
}

/** All terms (space-separated) must occur in the text. */
export function matcher(text) {
  const terms = String(text || '').toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return null;
  return (t) => terms.every((x) => t.includes(x));
}
