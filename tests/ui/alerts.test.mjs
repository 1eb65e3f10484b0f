// tests/ui/alerts.test.mjs — the Alerts page and the overview's "Firing alerts" card in
// Debian's headless Chromium (playwright-core from web/node_modules), against two kmon
// servers this file starts itself:
//   - one with a rule file of its own, groups evaluated every second: an alert always
//     firing (critical), one pending for an hour per pushed pod (namespaces shop and
//     billing), one that flaps (fires and resolves every 20 s), a recording rule and one
//     that fails at every evaluation (duplicate series on one side of a match);
//   - one with no rule and the alert history off (the empty states).
// No default rule pack (--default-rules=false): the alerts are the file's only.
//   KMON_BIN           the kmon binary (default build/kmon)
//   KMON_UI_ARTIFACTS  screenshots and the servers' logs (default /tmp/ui-artifacts)
//   KMON_UI_DIR        passed on to the servers: web/src serves this tree's files rather
//                      than the binary's copy (a binary built before the edit)
// Run: KMON_BIN=build/kmon node --test tests/ui/alerts.test.mjs

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(here, '..', '..');
const require = createRequire(path.join(ROOT, 'web', 'package.json'));
const { chromium } = require('playwright-core');

const KMON = path.resolve(process.env.KMON_BIN || path.join(ROOT, 'build', 'kmon'));
const ART = process.env.KMON_UI_ARTIFACTS || '/tmp/ui-artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const skip = fs.existsSync(KMON) ? false : `${KMON} is missing: build kmon or set KMON_BIN`;

const RULES = `groups:
  - name: test-alerts
    interval: 1s
    rules:
      - alert: TestAlwaysFiring
        expr: vector(1)
        for: 0s
        labels: {severity: critical}
        annotations: {summary: "Always firing, for the dashboard tests", runbook_url: "http://127.0.0.1:9/runbook"}
      - alert: TestPodBusy
        expr: kmon_pod_cpu_millicores > 0
        for: 1h
        labels: {severity: warning}
        annotations: {summary: "A pod uses CPU", description: "The pod used CPU: it will fire after an hour of it."}
      - alert: TestFlapping
        expr: label_replace(vector(1), "namespace", "shop", "", "") and on() (vector(time() % 20) < 8)
        for: 2s
        labels: {severity: info}
        annotations: {summary: "Fires and resolves every 20 seconds"}
  - name: test-records
    interval: 1s
    rules:
      - record: test:pod_cpu:sum
        expr: sum by (namespace) (kmon_pod_cpu_millicores)
      - record: test:broken
        expr: vector(1) * on() (label_replace(vector(1), "a", "x", "", "") or label_replace(vector(1), "a", "y", "", ""))
`;
const PODS = [['shop', 'web-1'], ['billing', 'api-0']];

// ---------- servers ----------
const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn until it returns a truthy value, for at most `ms`; the value, or a failure saying what. */
async function until(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${ms / 1000} s (last: ${last?.message || JSON.stringify(last)})`);
    await sleep(200);
  }
}

async function startKmon(name, work, extra) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = path.join(work, `${name}.log`);
  const fd = fs.openSync(log, 'w');
  const p = spawn(KMON, ['server', '--listen', `127.0.0.1:${port}`, '--data', path.join(work, name),
    '--default-rules=false', '--log-level', 'warn', ...extra], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => p.once('exit', (code, sig) => resolve({ code, sig })));
  const srv = { name, url, log, p, exited, text: () => fs.readFileSync(log, 'utf8') };
  await until(`${name} ready`, async () => {
    if (p.exitCode !== null) assert.fail(`${name} exited with ${p.exitCode}:\n${srv.text()}`);
    return (await fetch(`${url}/readyz`)).status === 200;
  }, 60000);
  return srv;
}

async function stopKmon(srv) {
  if (!srv || srv.p.exitCode !== null) return srv?.p.exitCode;
  srv.p.kill('SIGTERM');
  const bound = sleep(30000).then(() => 'timeout');
  const r = await Promise.race([srv.exited, bound]);
  if (r === 'timeout') { srv.p.kill('SIGKILL'); return 'did not stop within 30 s of SIGTERM'; }
  fs.copyFileSync(srv.log, path.join(ART, `alerts-${srv.name}.log`));
  return r.code === 0 ? null : `${srv.name} exited with ${r.code ?? r.sig}`;
}

const getJSON = async (srv, p) => (await fetch(srv.url + p)).json();
const pushPods = (srv) => Promise.all(PODS.map(([ns, pod]) => fetch(`${srv.url}/api/namespaces/${ns}/pods/${pod}/metrics`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ cpu_millicores: 250, memory_bytes: 64 << 20 }),
}).then((r) => assert.equal(r.status, 204, `push ${ns}/${pod}: HTTP ${r.status}`))));

// ---------- browser ----------
let browser, work, full, bare, pusher;
const problems = [];

before(async () => {
  if (skip) return;
  fs.mkdirSync(ART, { recursive: true });
  work = fs.mkdtempSync('/tmp/kmon-ui-alerts-');
  fs.mkdirSync(path.join(work, 'rules'));
  fs.writeFileSync(path.join(work, 'rules', 'test.yaml'), RULES);
  [full, bare] = await Promise.all([
    startKmon('rules', work, ['--rules', path.join(work, 'rules', '*.yaml'), '--rules-evaluation-interval', '1s', '--alert-history-retention', '90d']),
    startKmon('norules', work, ['--alert-history-retention', '0']),
  ]);
  await pushPods(full);
  pusher = setInterval(() => pushPods(full).catch(() => {}), 20000); // the pods stay fresh: their alerts stay pending
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  // the rules evaluated: one firing, two pending, the broken rule failing, a flap resolved in the history
  await until('TestAlwaysFiring firing and TestPodBusy pending twice in /api/v1/alerts', async () => {
    const a = (await getJSON(full, '/api/v1/alerts')).data.alerts;
    return a.some((x) => x.labels.alertname === 'TestAlwaysFiring' && x.state === 'firing')
      && a.filter((x) => x.labels.alertname === 'TestPodBusy' && x.state === 'pending').length === 2;
  });
  await until('test:broken failing in /api/v1/rules', async () => ruleOf(await getJSON(full, '/api/v1/rules'), 'test:broken')?.health === 'err');
  await until('a TestFlapping firing → inactive transition in the history', async () => (await getJSON(full, '/api/alerts/history?match=TestFlapping'))
    .transitions.some((t) => t.from === 'firing' && t.state === 'inactive'), 60000);
});

after(async () => {
  clearInterval(pusher);
  if (browser) await browser.close();
  const stops = await Promise.all([stopKmon(full), stopKmon(bare)]);
  if (work) fs.rmSync(work, { recursive: true, force: true });
  assert.deepEqual(stops.filter(Boolean), [], 'the servers stop cleanly on SIGTERM');
  assert.deepEqual(problems.filter((p) => p.startsWith('request to another host')), [], 'requests went to another host than 127.0.0.1');
});

function ruleOf(rules, name) {
  for (const g of rules.data.groups) for (const r of g.rules) if (r.name === name) return r;
  return null;
}

/** A fresh page recording console errors, page errors, failed requests, HTTP errors, other hosts. */
async function open() {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, colorScheme: 'light' });
  const page = await ctx.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => { if (!/ERR_ABORTED/.test(r.failure()?.errorText || '')) page.problems.push(`requestfailed: ${r.url()}`); });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (['http:', 'https:'].includes(u.protocol) && u.hostname !== '127.0.0.1') page.problems.push(`request to another host: ${r.url()}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) page.problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.close2 = async () => { problems.push(...page.problems); await ctx.close(); };
  return page;
}

/** Wait until every panel of the page has drawn (data-state set). */
async function settled(page) {
  await page.waitForFunction(() => {
    const ps = [...document.querySelectorAll('[data-panel]')];
    return document.querySelector('[data-page]') && ps.length > 0 && ps.every((p) => p.dataset.state && !p.hasAttribute('aria-busy'));
  }, null, { timeout: 30000 });
}

const state = (page, name) => page.getAttribute(`[data-panel="${name}"]`, 'data-state');
const shot = (page, name) => page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
/** The current alerts' rows as [alertname, state, text], in the page's order, shown ones only. */
const currentRows = (page) => page.$$eval('[data-panel="alerts-current"] tbody tr', (trs) => trs
  .filter((tr) => !tr.closest('details').hidden && tr.closest('details').open)
  .map((tr) => [tr.dataset.alertname, tr.dataset.state, tr.innerText.replace(/\s+/g, ' ')]));

describe('the Alerts page and the overview card, on a server with rules', { skip }, () => {
  test('current alerts: firing first, grouped, with severity, labels, summary, since and value', async () => {
    const page = await open();
    await page.goto(`${full.url}/ui/alerts`);
    await settled(page);
    assert.equal(await state(page, 'alerts-current'), 'ready');
    assert.equal(await page.innerText('h1'), 'Alerts');
    assert.equal(await page.getAttribute('nav a[aria-current="page"]', 'href').then((h) => h.replace(/\?.*/, '')), '/ui/alerts');
    const navText = await page.$$eval('nav a', (as) => as.map((a) => a.textContent));
    assert.equal(navText[navText.indexOf('Pods') + 1], 'Alerts', `nav: ${navText}`);
    const groups = await page.$$eval('[data-panel="alerts-current"] .alert-group', (s) => s.map((x) => x.dataset.alertname));
    assert.equal(groups[0], 'TestAlwaysFiring', `groups in order: ${groups}`); // firing and critical
    assert.ok(groups.indexOf('TestPodBusy') > 0, `groups: ${groups}`);
    const rows = await currentRows(page);
    const always = rows.filter((r) => r[0] === 'TestAlwaysFiring');
    assert.equal(always.length, 1);
    assert.equal(always[0][1], 'firing');
    assert.match(always[0][2], /firing/i);
    assert.match(always[0][2], /critical/i);
    assert.match(always[0][2], /Always firing, for the dashboard tests/);
    assert.match(always[0][2], /(\d+s|\d+m( \d+s)?) ago|just now/);
    assert.match(always[0][2], / 1$/, `value: ${always[0][2]}`);
    const busy = rows.filter((r) => r[0] === 'TestPodBusy');
    assert.deepEqual(busy.map((r) => r[1]), ['pending', 'pending']);
    for (const [, , text] of busy) {
      assert.match(text, /warning/i);
      assert.match(text, /A pod uses CPU/);
      assert.match(text, / 250$/);
      assert.doesNotMatch(text, /alertname=|severity=/); // identifying labels only
    }
    assert.match(busy.map((r) => r[2]).join('|'), /namespace=shop.*\|.*namespace=billing|namespace=billing.*\|.*namespace=shop/);
    // every firing row comes before every pending row of its group, and firing groups before pending-only ones
    const firstPendingOnly = groups.findIndex((g) => rows.filter((r) => r[0] === g).every((r) => r[1] === 'pending'));
    const lastFiring = groups.map((g) => rows.some((r) => r[0] === g && r[1] === 'firing')).lastIndexOf(true);
    assert.ok(firstPendingOnly === -1 || lastFiring < firstPendingOnly, `groups: ${groups}`);
    assert.equal(await page.getAttribute('[data-panel="alerts-current"] a.runbook', 'href'), 'http://127.0.0.1:9/runbook');
    await shot(page, 'alerts');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('rules: groups, health ok, a failing rule with its lastError, the query opens Explore', async () => {
    const rules = await getJSON(full, '/api/v1/rules');
    const broken = ruleOf(rules, 'test:broken');
    assert.equal(broken.health, 'err');
    assert.ok(broken.lastError, 'the broken rule has a lastError');
    const page = await open();
    await page.goto(`${full.url}/ui/alerts`);
    await settled(page);
    assert.equal(await state(page, 'alerts-rules'), 'ready');
    const groups = await page.$$eval('[data-panel="alerts-rules"] details.rule-group', (d) => d.map((x) => [x.dataset.group, x.open]));
    assert.deepEqual(groups, [['test-alerts', true], ['test-records', true]]);
    const ok = page.locator('[data-panel="alerts-rules"] [data-rule="TestAlwaysFiring"]');
    assert.equal(await ok.getAttribute('data-health'), 'ok');
    const okText = await ok.innerText();
    assert.match(okText, /\bok\b/i);
    assert.match(okText, /firing/i);
    assert.match(okText, /no for/);
    assert.match(await page.innerText('[data-panel="alerts-rules"] [data-rule="TestPodBusy"]'), /for 1h/);
    const bad = page.locator('[data-panel="alerts-rules"] [data-rule="test:broken"]');
    assert.equal(await bad.getAttribute('data-health'), 'err');
    assert.match(await bad.locator('.badge.health').innerText(), /err/i);
    const shown = await bad.locator('.rule-error').innerText();
    assert.ok(shown.includes(broken.lastError.slice(0, 60)), `shown: ${shown}\nlastError: ${broken.lastError}`);
    assert.match(await page.innerText('[data-panel="alerts-rules"] details[data-group="test-records"] summary'), /1 failing/i);
    // a group collapses and opens from the keyboard
    await page.focus('[data-panel="alerts-rules"] details[data-group="test-records"] summary');
    await page.keyboard.press('Enter');
    assert.equal(await page.$eval('details[data-group="test-records"]', (d) => d.open), false);
    await page.keyboard.press('Enter');
    assert.equal(await page.$eval('details[data-group="test-records"]', (d) => d.open), true);
    // the query is a link to Explore with that expression
    const link = ok.locator('a.rule-query');
    assert.equal(await link.innerText(), 'vector(1)');
    await link.click();
    await page.waitForURL(/\/ui\/explore\?/);
    assert.equal(new URL(page.url()).searchParams.get('expr'), 'vector(1)');
    await settled(page);
    assert.equal(await page.inputValue('#explore-expr'), 'vector(1)');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('history timeline: firing and pending bars with their labels; hover and keyboard show a bar', async () => {
    const page = await open();
    await page.goto(`${full.url}/ui/alerts?range=15m`);
    await settled(page);
    assert.equal(await state(page, 'alerts-history'), 'ready');
    const bar = page.locator('[data-panel="alerts-history"] rect.tl-bar.firing[aria-label^="TestAlwaysFiring firing"]');
    assert.equal(await bar.count(), 1);
    const label = await bar.getAttribute('aria-label');
    assert.match(label, /^TestAlwaysFiring firing from \d\d:\d\d:\d\d to now, at least \d+(s|m)/);
    assert.match(label, /severity=critical/);
    const pending = await page.$$eval('[data-panel="alerts-history"] rect.tl-bar.pending[aria-label^="TestPodBusy pending"]', (r) => r.map((x) => x.getAttribute('aria-label')));
    assert.equal(pending.length, 2, pending.join('\n'));
    for (const l of pending) assert.match(l, /to now/);
    // a flap that resolved: a firing bar that ends before now
    const flaps = await page.$$eval('[data-panel="alerts-history"] rect.tl-bar.firing[aria-label^="TestFlapping firing"]', (r) => r.map((x) => x.getAttribute('aria-label')));
    assert.ok(flaps.some((l) => /from \d\d:\d\d:\d\d to \d\d:\d\d:\d\d, \d+s; /.test(l)), `TestFlapping bars:\n${flaps.join('\n')}`);
    // the bar is drawn where it belongs: wide (active through most of the 15 min? at least since the server started)
    const box = await bar.boundingBox();
    assert.ok(box && box.width >= 2 && box.height >= 4, `bar box ${JSON.stringify(box)}`);
    // hover shows its times and labels
    await bar.hover();
    const tip = page.locator('[data-panel="alerts-history"] .tl-tip');
    await tip.waitFor({ state: 'visible' });
    const tipText = await tip.innerText();
    assert.match(tipText, /TestAlwaysFiring/);
    assert.match(tipText, /to now/);
    assert.match(tipText, /severity=\s*critical/);
    assert.match(tipText, /Always firing, for the dashboard tests/);
    await page.mouse.move(0, 0);
    await tip.waitFor({ state: 'hidden' });
    // one tab stop; arrows move between lanes, focus shows the tooltip
    const stops = await page.$$eval('[data-panel="alerts-history"] rect.tl-bar[tabindex="0"]', (r) => r.length);
    assert.equal(stops, 1);
    await page.focus('[data-panel="alerts-history"] rect.tl-bar[tabindex="0"]');
    const first = await page.evaluate(() => document.activeElement.getAttribute('aria-label'));
    await tip.waitFor({ state: 'visible' });
    await page.keyboard.press('ArrowDown');
    const second = await page.evaluate(() => document.activeElement.getAttribute('aria-label'));
    assert.ok(second && second !== first, `ArrowDown moved from ${first} to ${second}`);
    assert.equal(await tip.isVisible(), true);
    assert.match(await tip.innerText(), new RegExp(second.split(' ')[0]));
    await shot(page, 'alerts-history');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('the namespace filter hides alerts of another namespace, keeps those without one; search narrows in place', async () => {
    const page = await open();
    await page.goto(`${full.url}/ui/alerts`);
    await settled(page);
    await page.waitForFunction(() => [...document.querySelectorAll('#f-namespace option')].some((o) => o.value === 'shop'));
    await page.selectOption('#f-namespace', 'shop');
    await page.waitForURL(/namespace=shop/);
    await page.waitForFunction(() => document.querySelector('[data-panel="alerts-current"]')?.dataset.queries?.includes('namespace="shop"'));
    await settled(page);
    const rows = await currentRows(page);
    const text = rows.map((r) => r[2]).join('\n');
    assert.ok(rows.some((r) => r[0] === 'TestAlwaysFiring'), 'an alert without a namespace stays');
    assert.ok(rows.some((r) => r[0] === 'TestPodBusy' && /namespace=shop/.test(r[2])), text);
    assert.doesNotMatch(text, /namespace=billing/);
    const lanes = await page.$$eval('[data-panel="alerts-history"] .tl-lane', (l) => l.map((x) => x.dataset.key));
    assert.ok(lanes.length >= 2, `lanes: ${lanes}`);
    assert.ok(!lanes.some((k) => k.includes('billing')), `lanes: ${lanes}`);
    assert.ok(lanes.some((k) => k.includes('TestAlwaysFiring')));
    assert.match(await page.getAttribute('[data-panel="alerts-history"]', 'data-queries'), /match=\{namespace=~"shop\|"\}/);
    // the search box: "/" focuses it; terms narrow the alerts, the lanes and the rules; the URL keeps it
    await page.selectOption('#f-namespace', '');
    await page.waitForURL((u) => !u.searchParams.get('namespace'));
    await settled(page);
    await page.click('h1');
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'alerts-search');
    await page.keyboard.type('billing');
    await page.waitForFunction(() => /of/.test(document.querySelector('[data-panel="alerts-current"] .alert-count')?.textContent || ''));
    const found = await currentRows(page);
    assert.equal(found.length, 1, found.map((r) => r[2]).join('\n'));
    assert.match(found[0][2], /namespace=billing/);
    const shownLanes = await page.$$eval('[data-panel="alerts-history"] .tl-lane', (l) => l.filter((x) => !x.hidden).map((x) => x.dataset.key));
    assert.ok(shownLanes.length === 1 && shownLanes[0].includes('billing'), `lanes: ${shownLanes}`);
    await page.waitForURL(/q=billing/);
    await page.fill('#alerts-search', 'broken');
    await page.waitForFunction(() => /of/.test(document.querySelector('[data-panel="alerts-rules"] .tcount')?.textContent || '')
      && [...document.querySelectorAll('[data-panel="alerts-rules"] [data-rule]')].filter((r) => !r.hidden).length === 1);
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('the overview card: firing counts by severity, the first alerts, links to the Alerts page; filtered too', async () => {
    const page = await open();
    await page.goto(`${full.url}/ui/`);
    await settled(page);
    assert.equal(await state(page, 'firing-alerts'), 'ready');
    const card = page.locator('[data-panel="firing-alerts"]');
    assert.match(await card.locator('[data-severity="critical"]').innerText(), /^1 critical$/i);
    assert.ok(Number((await card.locator('.stat-value').innerText()).match(/\d+/)[0]) >= 1);
    const first = card.locator('.firing-list li').first();
    assert.match(await first.innerText(), /TestAlwaysFiring/);
    assert.match(await first.innerText(), /ago|just now/);
    assert.match(await card.innerText(), /2 pending|3 pending/); // the pods (and a flap between pending and firing)
    // namespace billing: the alert without a namespace and billing's pending pod; the flap (shop) is hidden
    await page.goto(`${full.url}/ui/?namespace=billing`);
    await settled(page);
    assert.match(await card.locator('.stat-value').innerText(), /^1\s*firing$/);
    assert.match(await card.innerText(), /\b1 pending\b/);
    await first.locator('a').click();
    await page.waitForURL(/\/ui\/alerts\?/);
    const u = new URL(page.url());
    assert.equal(u.searchParams.get('q'), 'TestAlwaysFiring');
    assert.equal(u.searchParams.get('namespace'), 'billing'); // the filters follow
    await settled(page);
    assert.equal(await page.inputValue('#alerts-search'), 'TestAlwaysFiring');
    assert.deepEqual((await currentRows(page)).map((r) => r[0]), ['TestAlwaysFiring']);
    // the card links to the page from its header too
    await page.goto(`${full.url}/ui/`);
    await settled(page);
    await page.click('[data-panel="firing-alerts"] .panel-link');
    await page.waitForURL(/\/ui\/alerts/);
    await settled(page);
    await page.goto(`${full.url}/ui/`);
    await settled(page);
    await shot(page, 'alerts-overview');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });
});

describe('the Alerts page and the overview card, on a server with no rules and no history', { skip }, () => {
  test('every part says why it is empty: no rules loaded, no alert rules, alert history is off', async () => {
    const page = await open();
    await page.goto(`${bare.url}/ui/alerts`);
    await settled(page);
    for (const [p, re] of [['alerts-current', /No alert rules loaded/], ['alerts-rules', /No rules loaded/], ['alerts-history', /Alert history is off/]]) {
      assert.equal(await state(page, p), 'empty', p);
      assert.match(await page.innerText(`[data-panel="${p}"]`), re);
    }
    assert.equal(await page.$$eval('.error', (e) => e.length), 0, 'no error box');
    await shot(page, 'alerts-empty');
    await page.goto(`${bare.url}/ui/`);
    await settled(page);
    assert.equal(await state(page, 'firing-alerts'), 'empty');
    assert.match(await page.innerText('[data-panel="firing-alerts"]'), /No alert rules loaded/);
    // the history's 404 is how the server says it is off: the only HTTP error, and its console line
    const rest = page.problems.filter((p) => !/404.*\/api\/alerts\/history|status of 404/.test(p));
    assert.deepEqual(rest, []);
    assert.ok(page.problems.some((p) => /HTTP 404: .*\/api\/alerts\/history/.test(p)), page.problems.join('\n'));
    page.problems = rest;
    await page.close2();
  });
});
