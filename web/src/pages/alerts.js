// pages/alerts.js — the alerts: the current ones (/api/v1/alerts) grouped by
// alertname, firing first; a timeline of their history over the page's range
// (/api/alerts/history); the rule groups (/api/v1/rules) with each rule's
// health, state, `for` and query. The cluster and namespace filters hide
// alerts of another cluster or namespace (alerts without the label stay); the
// search box ("/") narrows all three parts in place.

import { h } from '../dom.js';
import * as api from '../api.js';
import { panel, empty } from '../panel.js';
import { alertFilter } from '../queries.js';
import { patch, href } from '../state.js';
import { duration, ago } from '../units.js';
import { pageHead, grid } from './common.js';
import {
  WHY_ALERTS, loadAlerts, loadRules, alertingRules, byUrgency, sevBadge, stateBadge, labelChips, labelText,
  since, valueText, summaryOf, msOf, matcher,
} from './alertlist.js';
import { buildLanes, timeline } from './alerttimeline.js';

const HISTORY_LIMIT = 10000;
const ROWS = 25; // rows of a group drawn until "Show all"

export function mount(root, ctx) {
  const search = h('input', { id: 'alerts-search', type: 'search', placeholder: 'Search alerts, labels, rules', 'aria-label': 'Search alerts and rules', value: ctx.query.q || '', autocomplete: 'off', 'data-search': '' });
  /** What each part does with the search: set by its loader, called on typing. */
  const appliers = new Map();
  const applyAll = () => { const m = matcher(search.value); for (const fn of appliers.values()) fn(m); };
  let timer = 0;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { applyAll(); patch({ q: search.value }, { push: false, silent: true }); }, 60);
  });
  const onSearch = (name, fn) => { appliers.set(name, fn); fn(matcher(search.value)); };

  // ---------- current alerts ----------
  const pCurrent = panel(ctx, { name: 'alerts-current', title: 'Current alerts', sub: 'firing first, grouped by alert' }).load(async (q) => {
    const [alerts, groups] = await Promise.all([loadAlerts(q), loadRules(q)]);
    if (groups === null || alerts === null) return empty(WHY_ALERTS.rulesOff);
    if (!alertingRules(groups).length && !alerts.length) return empty(WHY_ALERTS.noRules);
    const count = h('p', { class: 'tcount alert-count', role: 'status' });
    if (!alerts.length) {
      return h('div', null, h('p', { class: 'ok-note' }, ctx.filter.namespace || ctx.filter.cluster
        ? '✓ No alert of this filter is pending or firing.' : '✓ No alert is pending or firing.'));
    }
    const byName = new Map();
    for (const a of alerts) {
      const n = a.labels?.alertname || '(no alertname)';
      if (!byName.has(n)) byName.set(n, []);
      byName.get(n).push(a);
    }
    const groupsOut = [...byName].map(([name, list]) => ({ name, list: list.sort(byUrgency) }))
      .sort((a, b) => byUrgency(a.list[0], b.list[0]) || a.name.localeCompare(b.name));
    const now = Date.now();
    const many = alerts.length > 20;
    const sections = groupsOut.map(({ name, list }) => {
      const firing = list.filter((a) => a.state === 'firing').length, pending = list.length - firing;
      for (const a of list) a.text = `${name} ${a.state} ${a.labels?.severity || ''} ${labelText(a.labels)} ${Object.values(a.annotations || {}).join(' ')}`.toLowerCase();
      const tbody = h('tbody');
      const more = h('button', { type: 'button', class: 'btn more', hidden: true });
      const sec = h('details', { class: 'alert-group', dataset: { alertname: name }, open: !many || firing > 0 },
        h('summary', { class: 'alert-group-head' },
          h('span', { class: `dot ${firing ? 'firing' : 'pending'}`, 'aria-hidden': 'true' }), h('span', { class: 'alert-group-name' }, name),
          firing ? h('span', { class: 'badge bad' }, `${firing} firing`) : null,
          pending ? h('span', { class: 'badge warn' }, `${pending} pending`) : null),
        h('table', { class: 'atable', 'aria-label': name },
          h('thead', null, h('tr', null, ['State', 'Severity', 'Labels', 'Summary', 'Since', 'Value'].map((c, i) =>
            h('th', { scope: 'col', class: i >= 4 ? 'num' : null }, c)))),
          tbody),
        more);
      // rows are drawn for what shows: the matching alerts, the first ROWS of them until "Show all"
      let all = false, shown = list;
      sec.render = (m) => {
        shown = m ? list.filter((a) => m(a.text)) : list;
        const cut = all ? shown : shown.slice(0, ROWS);
        tbody.replaceChildren(...cut.map((a) => alertRow(name, a, now)));
        more.hidden = cut.length === shown.length;
        more.textContent = `Show all ${shown.length} ${name} alerts`;
        sec.hidden = shown.length === 0;
        if (m && shown.length) sec.open = true;
        return shown.length;
      };
      more.addEventListener('click', () => { all = true; sec.render(matcher(search.value)); });
      return sec;
    });
    onSearch('current', (m) => {
      let n = 0;
      for (const sec of sections) n += sec.render(m);
      const firing = alerts.filter((a) => a.state === 'firing').length;
      count.textContent = m ? `${n} of ${alerts.length} alerts match` : `${firing} firing, ${alerts.length - firing} pending`;
    });
    return h('div', null, sections, count);
  });

  // ---------- history ----------
  const pHistory = panel(ctx, { name: 'alerts-history', title: 'History', sub: 'pending and firing periods over the range, one lane per alert' }).load(async (q) => {
    const f = alertFilter(ctx.filter);
    const from = q.time.start * 1000, to = q.time.end * 1000;
    const reachesNow = !q.time.custom || Date.now() - to < 60e3;
    const ask = (a, b, limit) => q.call(`history|${a}|${b}|${f.match}|${limit}`,
      (signal) => api.alertHistory({ from: a / 1000, to: b / 1000, match: f.match || undefined, limit }, signal),
      `GET /api/alerts/history${f.match ? `?match=${f.match}` : ''}: ${f.text}`);
    let hist, before = null, current = [];
    try {
      [hist, before, current] = await Promise.all([
        ask(from, to, HISTORY_LIMIT),
        // alerts active through a past range have no transition in it: their last one before says
        reachesNow ? null : ask(from - 7 * 86400e3, from, HISTORY_LIMIT),
        // alerts active through a range that reaches now: /api/v1/alerts says
        reachesNow ? loadAlerts(q) : [],
      ]);
    } catch (e) {
      if (e instanceof api.ApiError && e.errorType === 'off') return empty(WHY_ALERTS.historyOff);
      throw e;
    }
    const seeds = [];
    if (before) {
      const last = new Map();
      for (const t of before.transitions) last.set(JSON.stringify(t.labels), t);
      for (const t of last.values()) {
        if (t.state === 'pending' || t.state === 'firing') seeds.push({ labels: t.labels, state: t.state, annotations: t.annotations, value: t.value, activeAt: t.active_at });
      }
    }
    for (const a of current || []) {
      seeds.push({ labels: a.labels, state: a.state, annotations: a.annotations, value: Number(a.value), activeAt: msOf(a.activeAt), current: true });
    }
    const lanes = buildLanes(hist.transitions, { from, to, seeds });
    if (!lanes.length) {
      const groups = await loadRules(q).catch(() => []);
      return empty(groups && !alertingRules(groups).length ? WHY_ALERTS.noRules : WHY_ALERTS.noHistory);
    }
    const tl = timeline(lanes, {
      from, to, reachesNow,
      labelOf: (l) => h('span', null, h('strong', null, l.alertname), ' ', h('span', { class: 'muted' }, labelText(l.labels))),
    });
    const note = hist.transitions.length >= HISTORY_LIMIT
      ? h('p', { class: 'muted' }, `Only the newest ${HISTORY_LIMIT.toLocaleString('en')} transitions of the range are drawn: choose a shorter range for the older ones.`) : null;
    const count = h('p', { class: 'tcount', role: 'status' });
    onSearch('history', (m) => {
      const n = tl.filter(m);
      count.textContent = `${m ? `${n} of ${lanes.length}` : lanes.length} ${lanes.length === 1 ? 'alert' : 'alerts'}, ${hist.transitions.length} ${hist.transitions.length === 1 ? 'transition' : 'transitions'} in the range`;
    });
    return h('div', null, tl.el, count, note);
  });

  // ---------- rules ----------
  const pRules = panel(ctx, { name: 'alerts-rules', title: 'Rules', sub: 'by group, as evaluated' }).load(async (q) => {
    const groups = await loadRules(q);
    if (groups === null) return empty(WHY_ALERTS.rulesOff);
    if (!groups.length) return empty(WHY_ALERTS.noRuleGroups);
    const many = groups.length > 5;
    const items = [];
    const details = groups.map((g) => {
      const rules = g.rules || [];
      const errs = rules.filter((r) => r.health === 'err').length;
      const active = rules.filter((r) => r.state === 'firing' || r.state === 'pending').length;
      const lis = rules.map((r) => {
        const li = ruleItem(r);
        li.text = `${g.name} ${g.file || ''} ${r.name} ${r.query} ${r.type} ${r.health} ${r.state || ''} ${Object.entries(r.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ')}`.toLowerCase();
        items.push(li);
        return li;
      });
      const d = h('details', { class: 'rule-group', dataset: { group: g.name }, open: !many || errs > 0 || active > 0 },
        h('summary', null,
          h('span', { class: 'rule-group-name' }, g.name),
          h('span', { class: 'muted' }, `${rules.length} ${rules.length === 1 ? 'rule' : 'rules'}`),
          errs ? h('span', { class: 'badge bad' }, `${errs} failing`) : null,
          active ? h('span', { class: 'badge warn' }, `${active} active`) : null,
          h('span', { class: 'muted rule-group-meta' }, [
            g.interval ? `every ${duration(g.interval)}` : null,
            g.lastEvaluation && msOf(g.lastEvaluation) > 0 ? `evaluated ${ago((Date.now() - msOf(g.lastEvaluation)) / 1000)}` : 'not evaluated yet',
            Number.isFinite(g.evaluationTime) ? `in ${evalTime(g.evaluationTime)}` : null,
            g.file || null].filter(Boolean).join(' · '))),
        h('ul', { class: 'rules' }, lis));
      d.rules = lis;
      return d;
    });
    const count = h('p', { class: 'tcount', role: 'status' });
    onSearch('rules', (m) => {
      let n = 0;
      for (const d of details) {
        let k = 0;
        for (const li of d.rules) { li.hidden = !!m && !m(li.text); if (!li.hidden) k++; }
        d.hidden = k === 0;
        if (m && k) d.open = true;
        n += k;
      }
      const errs = items.filter((li) => li.dataset.health === 'err').length;
      count.textContent = `${m ? `${n} of ${items.length}` : items.length} rules in ${groups.length} ${groups.length === 1 ? 'group' : 'groups'}${errs ? `, ${errs} failing` : ''}`;
    });
    return h('div', null, details, count);
  });

  root.append(
    pageHead('Alerts', ctx.filter.namespace ? `Namespace ${ctx.filter.namespace}, and alerts of no namespace` : 'Current alerts, their history and their rules',
      h('div', { class: 'toolbar' }, search, h('span', { class: 'kbd', title: 'Press / to search' }, '/'))),
    grid('one', pCurrent),
    grid('one', pHistory),
    grid('one', pRules));
}

function alertRow(name, a, now) {
  return h('tr', { dataset: { state: a.state, alertname: name } },
    h('td', null, stateBadge(a.state)),
    h('td', null, sevBadge(a.labels?.severity)),
    h('td', null, labelChips(a.labels)),
    h('td', null, summaryCell(a)),
    h('td', { class: 'num' }, since(a.activeAt, now)),
    h('td', { class: 'num' }, valueText(a.value)));
}

function summaryCell(a) {
  const s = summaryOf(a);
  const desc = a.annotations?.description;
  const runbook = a.annotations?.runbook_url;
  return h('span', null,
    s ? h('span', { title: desc && desc !== s ? desc : null }, s) : h('span', { class: 'muted' }, 'no summary'),
    /^https?:\/\//.test(runbook || '') ? [' ', h('a', { href: runbook, target: '_blank', rel: 'noreferrer noopener', class: 'runbook' }, 'runbook')] : null);
}

const evalTime = (s) => (s < 1e-3 ? `${Math.max(1, Math.round(s * 1e6))} µs` : s < 1 ? `${Math.round(s * 1e3)} ms` : `${s.toFixed(1)} s`);

function ruleItem(r) {
  const alerting = r.type === 'alerting';
  const health = r.health || 'unknown';
  const n = (r.alerts || []).length;
  return h('li', { class: `rule ${health === 'err' ? 'err' : ''}`, dataset: { rule: r.name, health, type: r.type || '' } },
    h('div', { class: 'rule-line' },
      h('span', { class: `badge ${alerting ? 'kind-alert' : 'kind-pod'}`, title: alerting ? 'alerting rule' : 'recording rule' }, alerting ? 'alert' : 'record'),
      h('span', { class: 'rule-name' }, r.name),
      h('span', { class: `badge health ${health === 'ok' ? 'ok' : health === 'err' ? 'bad' : ''}`, title: `health: ${health}` }, health),
      alerting ? stateBadge(r.state) : null,
      alerting && n ? h('span', { class: 'muted' }, `${n} ${n === 1 ? 'alert' : 'alerts'}`) : null,
      alerting ? h('span', { class: 'muted' }, r.duration ? `for ${duration(r.duration)}` : 'no for') : null,
      r.labels && Object.keys(r.labels).length ? h('span', { class: 'chips' }, Object.entries(r.labels).map(([k, v]) => h('span', { class: 'chip' }, h('span', { class: 'muted' }, `${k}=`), v))) : null,
      Number.isFinite(r.evaluationTime) && r.lastEvaluation && msOf(r.lastEvaluation) > 0 ? h('span', { class: 'muted rule-eval' }, `${evalTime(r.evaluationTime)}, ${ago((Date.now() - msOf(r.lastEvaluation)) / 1000)}`) : null),
    h('a', { class: 'rule-query', href: href('explore', { expr: r.query }), title: 'Open in Explore' }, h('code', null, r.query)),
    health === 'err' ? h('p', { class: 'rule-error', role: 'note' }, h('strong', null, 'Evaluation failed: '), r.lastError || 'no error message') : null);
}

