// tests/ui/logs.test.mjs — the Logs page and the pod page's logs in Debian's headless
// Chromium (playwright-core from web/node_modules), against a kmon server that holds lines
// this file pushes itself through Loki's push API (POST /loki/api/v1/push, JSON), each
// with a run-unique token, so every expected answer is computed here from what was pushed:
// which lines show and in which order, their local times (in a half-hour time zone), the
// line filter's one match, a line's labels and parsed fields, the histogram's total, the
// server's own message for a bad query, a line pushed while live tail runs (once, and a
// second one at the same nanosecond), a pod's lines and its container picker.
//   KMON_UI_DATA_URL   a server to use (run_e2e.py's, loaded by gen_cluster.py and
//                      gen_logs.py); without it this file starts one from KMON_BIN
//   KMON_UI_LOGS       gen_logs.py's JSON line (run_e2e.py passes it): the dataset's pod
//                      pages are checked too
//   KMON_BIN           the kmon binary when no server is given (default build/kmon)
//   KMON_UI_DIR        passed on to the started server (--ui-dir): serve this tree's web/src
//   KMON_UI_ARTIFACTS  screenshots (default /tmp/ui-artifacts)
// Run: KMON_BIN=build/kmon node --test tests/ui/logs.test.mjs

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

const GIVEN = (process.env.KMON_UI_DATA_URL || '').replace(/\/+$/, '').replace(/\/ui$/, '');
const KMON = path.resolve(process.env.KMON_BIN || path.join(ROOT, 'build', 'kmon'));
const LOGS = process.env.KMON_UI_LOGS ? JSON.parse(process.env.KMON_UI_LOGS) : null;
const ART = process.env.KMON_UI_ARTIFACTS || '/tmp/ui-artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const skip = GIVEN || fs.existsSync(KMON) ? false : `${KMON} is missing: build kmon, set KMON_BIN or KMON_UI_DATA_URL`;
const TZ = 'Asia/Kolkata'; // UTC+05:30: a wrong zone or a lost half hour shows

// ---------- what this file pushes ----------
const RUN = Date.now().toString(36);
const NS_A = `logtest-a-${RUN}`, NS_B = `logtest-b-${RUN}`, NS_C = `logtest-c-${RUN}`;
const POD = `shop-web-${RUN}`, POD_B = `batch-${RUN}`;
const APP = `logtest-${RUN}`;
const T0 = BigInt(Date.now() - 10 * 60e3) * 1000000n; // ten minutes ago, in ns
const NEEDLE = `needle-${RUN}`;
/** [labels, [[ns, line]]]: A's web pod (two containers), B's batch pod. */
function dataset() {
  const web = [], side = [], batch = [];
  for (let i = 0; i < 30; i++) {
    const ts = T0 + BigInt(i) * 10_000_000_000n + BigInt(i * 1234567); // every 10 s, odd nanoseconds
    const status = i % 7 === 3 ? 503 : 200;
    const rec = { level: status >= 500 ? 'error' : 'info', msg: 'request', method: 'GET', path: `/cart/${i}`, status, duration_ms: 10 + i, seq: i };
    if (i === 17) rec.note = NEEDLE;
    web.push([ts.toString(), JSON.stringify(rec)]);
  }
  for (let i = 0; i < 6; i++) side.push([(T0 + BigInt(i) * 60_000_000_000n + 5n).toString(), `ts=x level=warn msg="sidecar reload" n=${i}`]);
  for (let i = 0; i < 12; i++) batch.push([(T0 + BigInt(i) * 20_000_000_000n + 7n).toString(), `I1206 05:00:0${i % 10}.000000       1 job.go:42] "batch step" step=${i}`]);
  // NS_C: more lines than a page (500), three sharing the timestamp at the page's edge
  const many = [];
  for (let i = 0; i < 520; i++) {
    const k = i >= 18 && i <= 20 ? 19 : i;
    many.push([(T0 + BigInt(k) * 1_000_000_000n).toString(), `paged line ${i}`]);
  }
  return [
    [{ namespace: NS_C, pod: `pager-${RUN}`, container: 'pager', stream: 'stdout', app: `pager-${RUN}` }, many],
    [{ namespace: NS_A, pod: POD, container: 'web', stream: 'stdout', app: APP }, web],
    [{ namespace: NS_A, pod: POD, container: 'sidecar', stream: 'stderr', app: APP }, side],
    [{ namespace: NS_B, pod: POD_B, container: 'job', stream: 'stderr', app: APP }, batch],
  ];
}
const DATA = dataset();
const linesOf = (pred) => DATA.filter(([l]) => pred(l)).flatMap(([l, vs]) => vs.map(([ts, line]) => ({ ts, line, labels: l })))
  .sort((a, b) => (BigInt(b.ts) > BigInt(a.ts) ? 1 : BigInt(b.ts) < BigInt(a.ts) ? -1 : 0));

/** "HH:MM:SS.mmm" of a ns timestamp in TZ, computed without the browser. */
function inZone(ts) {
  const ms = Number(BigInt(ts) / 1000000n);
  const hms = new Intl.DateTimeFormat('en-US', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
  return `${hms}.${String(ms % 1000).padStart(3, '0')}`;
}

// ---------- server ----------
const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${ms / 1000} s (last: ${last?.message || JSON.stringify(last)})`);
    await sleep(200);
  }
}

let srv = null; // the server this file started
let URL0 = GIVEN;
async function startKmon(work) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = path.join(work, 'server.log');
  const fd = fs.openSync(log, 'w');
  const extra = process.env.KMON_UI_DIR ? ['--ui-dir', process.env.KMON_UI_DIR] : [];
  const p = spawn(KMON, ['server', '--listen', `127.0.0.1:${port}`, '--data', path.join(work, 'data'), '--default-rules=false', '--log-level', 'warn', ...extra], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => p.once('exit', (code, sig) => resolve({ code, sig })));
  const s = { url, log, p, exited, text: () => fs.readFileSync(log, 'utf8') };
  await until('the server ready', async () => {
    if (p.exitCode !== null) assert.fail(`kmon exited with ${p.exitCode}:\n${s.text()}`);
    return (await fetch(`${url}/readyz`)).status === 200;
  }, 60000);
  return s;
}
async function stopKmon(s) {
  if (!s || s.p.exitCode !== null) return s?.p.exitCode || null;
  s.p.kill('SIGTERM');
  const r = await Promise.race([s.exited, sleep(30000).then(() => 'timeout')]);
  fs.copyFileSync(s.log, path.join(ART, 'logs-server.log'));
  if (r === 'timeout') { s.p.kill('SIGKILL'); return 'did not stop within 30 s of SIGTERM'; }
  if (/Sanitizer|runtime error:/.test(s.text())) return 'a sanitizer report';
  return r.code === 0 ? null : `exited with ${r.code ?? r.sig}`;
}

async function push(streams) {
  const r = await fetch(`${URL0}/loki/api/v1/push`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ streams: streams.map(([stream, values]) => ({ stream, values })) }),
  });
  assert.ok(r.status === 204 || r.status === 200, `push: HTTP ${r.status} ${await r.text()}`);
}
async function lokiRange(query, extra = {}) {
  const p = new URLSearchParams({ query, start: String(BigInt(Date.now() - 3600e3) * 1000000n), end: String(BigInt(Date.now() + 1e3) * 1000000n), limit: '1000', ...extra });
  const r = await fetch(`${URL0}/loki/api/v1/query_range?${p}`);
  return { status: r.status, body: await r.json().catch(() => null) };
}

// ---------- browser ----------
let browser, work;
const problems = [];

before(async () => {
  if (skip) return;
  fs.mkdirSync(ART, { recursive: true });
  if (!GIVEN) {
    work = fs.mkdtempSync('/tmp/kmon-ui-logs-');
    srv = await startKmon(work);
    URL0 = srv.url;
  }
  await push(DATA);
  // the pushed lines are searchable (the store may index asynchronously)
  await until('the pushed lines in query_range', async () => {
    const r = await lokiRange(`{app="${APP}"}`);
    const c = await lokiRange(`{app="pager-${RUN}"}`);
    return r.status === 200 && r.body.data.result.reduce((n, s) => n + s.values.length, 0) === 48
      && c.status === 200 && c.body.data.result.reduce((n, s) => n + s.values.length, 0) === 520;
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
  if (browser) await browser.close();
  const stop = await stopKmon(srv);
  if (work) fs.rmSync(work, { recursive: true, force: true });
  assert.equal(stop, null, 'the server stops cleanly on SIGTERM');
  assert.deepEqual(problems.filter((p) => p.startsWith('request to another host')), [], 'requests went to another host than 127.0.0.1');
});

async function open() {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, colorScheme: 'light', timezoneId: TZ, locale: 'en-US' });
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

/** Wait until every panel has drawn (data-state set) and none is busy. */
async function settled(page) {
  await page.waitForFunction(() => {
    const ps = [...document.querySelectorAll('[data-panel]')];
    return document.querySelector('[data-page]') && ps.length > 0 && ps.every((p) => p.dataset.state && !p.hasAttribute('aria-busy'));
  }, null, { timeout: 30000 });
  await page.waitForTimeout(100);
}
const state = (page, name) => page.getAttribute(`[data-panel="${name}"]`, 'data-state');
const shot = (page, name) => page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
/** The list's rows: {ts, time, text, level, src}, top to bottom. */
const rows = (page, panel = 'logs-lines') => page.$$eval(`[data-panel="${panel}"] .log-line`, (ls) => ls.map((l) => ({
  ts: l.dataset.ts, level: l.dataset.level, time: l.querySelector('.log-time').textContent,
  text: l.querySelector('.log-text').textContent, src: l.querySelector('.log-src')?.textContent || '',
})));
const logsUrl = (q) => `${URL0}/ui/logs?${new URLSearchParams(q)}`;
/** After a change of the URL, the page drew again: the lines panel's answer is the new one. */
async function redrawn(page, pred, arg = null) {
  await page.waitForFunction(pred, arg, { timeout: 20000 });
  await settled(page);
}

describe('the Logs page', { skip }, () => {
  test('shows the namespace\'s lines, newest first, in the user\'s time zone, coloured by level', async () => {
    const page = await open();
    await page.goto(logsUrl({ namespace: NS_A }));
    await settled(page);
    assert.equal(await page.innerText('h1'), 'Logs');
    assert.equal(await state(page, 'logs-lines'), 'ready');
    const want = linesOf((l) => l.namespace === NS_A);
    const got = await rows(page);
    assert.deepEqual(got.map((r) => r.ts), want.map((w) => w.ts), 'the namespace\'s lines, newest first');
    assert.deepEqual(got.map((r) => r.text), want.map((w) => w.line));
    assert.deepEqual(got.map((r) => r.time), want.map((w) => inZone(w.ts)), `times in ${TZ}`);
    // levels: the JSON level field, logfmt's level= on the sidecar
    assert.deepEqual(got.map((r) => r.level), want.map((w) => (w.line.startsWith('{') ? JSON.parse(w.line).level : 'warn')));
    assert.match(await page.inputValue('#logs-query'), new RegExp(`^\\{namespace="${NS_A}"\\}$`), 'the box shows the filter\'s selector');
    assert.equal(await page.inputValue('#f-namespace'), NS_A, 'the global filter holds the namespace');
    assert.match(await page.innerText('[data-panel="logs-lines"] .log-count'), /^36 lines, newest first$/);
    assert.equal(await page.isHidden('#logs-older'), true, 'all lines shown: no "load older"');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('the namespace filter narrows the lines; the pickers build the selector', async () => {
    const page = await open();
    await page.goto(logsUrl({ expr: `{app="${APP}"}` }));
    await settled(page);
    let got = await rows(page);
    assert.deepEqual(got.map((r) => r.ts), linesOf((l) => l.app === APP).map((w) => w.ts), 'no filter: both namespaces');
    assert.ok(got.some((r) => r.src.startsWith(POD_B)) && got.some((r) => r.src.startsWith(POD)), 'a source column when streams differ');
    // the page's namespace picker (Loki's namespaces) sets the global filter
    await page.waitForSelector(`#logs-ns option[value="${NS_B}"]`, { state: 'attached' });
    await page.selectOption('#logs-ns', NS_B);
    await redrawn(page, (ns) => new URLSearchParams(location.search).get('namespace') === ns, NS_B);
    await page.waitForFunction(() => document.querySelector('[data-panel="logs-lines"]')?.dataset.state === 'ready');
    got = await rows(page);
    assert.deepEqual(got.map((r) => r.ts), linesOf((l) => l.namespace === NS_B).map((w) => w.ts), 'namespace B only');
    assert.equal(await page.inputValue('#logs-query'), `{namespace="${NS_B}", app="${APP}"}`, 'the box shows the picked namespace');
    // the pod and container pickers
    await page.selectOption('#logs-ns', NS_A);
    await redrawn(page, (ns) => new URLSearchParams(location.search).get('namespace') === ns, NS_A);
    await page.waitForSelector(`#logs-pod option[value="${POD}"]`, { state: 'attached' });
    await page.selectOption('#logs-pod', POD);
    await redrawn(page, () => /pod=/.test(new URLSearchParams(location.search).get('expr') || ''));
    await page.waitForSelector('#logs-container option[value="sidecar"]', { state: 'attached' });
    await page.selectOption('#logs-container', 'sidecar');
    await redrawn(page, () => /container=/.test(new URLSearchParams(location.search).get('expr') || ''));
    assert.equal(await page.inputValue('#logs-query'), `{namespace="${NS_A}", app="${APP}", pod="${POD}", container="sidecar"}`);
    got = await rows(page);
    assert.deepEqual(got.map((r) => r.ts), linesOf((l) => l.container === 'sidecar').map((w) => w.ts), 'the sidecar\'s lines only');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('a line filter finds the one line; a click shows its stream labels and parsed fields', async () => {
    const page = await open();
    await page.goto(logsUrl({ namespace: NS_A }));
    await settled(page);
    await page.fill('#logs-grep', NEEDLE);
    await page.press('#logs-grep', 'Enter');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('grep'));
    await page.waitForFunction(() => document.querySelectorAll('[data-panel="logs-lines"] .log-line').length === 1, null, { timeout: 20000 });
    await settled(page);
    const want = linesOf((l) => l.namespace === NS_A).filter((w) => w.line.includes(NEEDLE));
    assert.equal(want.length, 1);
    const got = await rows(page);
    assert.deepEqual(got.map((r) => [r.ts, r.text]), [[want[0].ts, want[0].line]]);
    assert.equal(await page.innerText('[data-panel="logs-lines"] .log-line mark'), NEEDLE, 'the match is marked');
    assert.match(await page.getAttribute('[data-panel="logs-lines"]', 'data-queries'), new RegExp(`\\|= "${NEEDLE}"`), 'the query ran with |= "…"');
    // the volume follows the filter: one line
    await page.waitForSelector('[data-panel="logs-volume"] .log-volume');
    assert.equal(await page.getAttribute('[data-panel="logs-volume"] .log-volume', 'data-total'), '1');

    await page.click('[data-panel="logs-lines"] .log-line .log-text');
    await page.waitForSelector('.log-detail');
    assert.equal(await page.getAttribute('[data-panel="logs-lines"] .log-line', 'aria-expanded'), 'true');
    const labels = await page.$$eval('.log-detail tr[data-label]', (trs) => trs.map((tr) => [tr.dataset.kind, tr.dataset.label, tr.querySelector('.log-val').textContent]));
    const stream = labels.filter(([k]) => k === 'stream').map(([, n, v]) => [n, v]);
    const pushed = Object.entries(want[0].labels).sort(([a], [b]) => a.localeCompare(b));
    for (const kv of pushed) assert.ok(stream.some(([n, v]) => n === kv[0] && v === kv[1]), `stream label ${kv[0]}=${kv[1]} in ${JSON.stringify(stream)}`);
    const parsedF = Object.fromEntries(labels.filter(([k]) => k === 'parsed').map(([, n, v]) => [n, v]));
    const rec = JSON.parse(want[0].line);
    for (const [k, v] of Object.entries(rec)) assert.equal(parsedF[k], String(v), `parsed field ${k}`);
    await shot(page, 'logs-expanded');
    // "show only" on a parsed field adds a label filter and runs it: the same one line
    await page.click('.log-detail tr[data-label="status"] button[title^="Show only"]');
    await redrawn(page, (st) => new URLSearchParams(location.search).get('expr')?.endsWith(`| json | status="${st}"`), String(rec.status));
    assert.deepEqual((await rows(page)).map((r) => r.ts), [want[0].ts], 'the same one line (the line filter stays)');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('the volume histogram has bars that add up to the lines of the range', async () => {
    const page = await open();
    await page.goto(logsUrl({ expr: `{app="${APP}"}` }));
    await settled(page);
    assert.equal(await state(page, 'logs-volume'), 'ready');
    assert.match(await page.getAttribute('[data-panel="logs-volume"]', 'data-queries'), /^sum by \(level, stream\) \(count_over_time\(\{app="[^"]+"\} \[\d+s\]\)\)$/);
    const total = Number(await page.getAttribute('[data-panel="logs-volume"] .log-volume', 'data-total'));
    assert.equal(total, linesOf((l) => l.app === APP).length, 'the histogram counts every line once');
    assert.ok(Number(await page.getAttribute('[data-panel="logs-volume"] .log-volume', 'data-bars')) >= 10, 'lines over 10 minutes: bars in many steps');
    const colored = await page.$eval('[data-panel="logs-volume"]', (p) => {
      let n = 0;
      for (const c of p.querySelectorAll('canvas')) {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 40 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
      }
      return n;
    });
    assert.ok(colored > 200, `coloured bar pixels: ${colored}`);
    // legend: the streams (stdout, stderr) of these lines
    const legend = await page.$$eval('[data-panel="logs-volume"] .u-legend .u-series th', (ths) => ths.map((t) => t.textContent.trim()).filter(Boolean));
    assert.deepEqual(legend.filter((x) => x !== 'Time').sort(), ['stderr', 'stdout']);
    await shot(page, 'logs-page');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('a bad query shows the server\'s message, not a blank page', async () => {
    const page = await open();
    const bad = `{app="${APP}"} |=`;
    const direct = await lokiRange(bad, { direction: 'backward', limit: '500' });
    assert.equal(direct.status, 400, 'the server refuses the query');
    const msg = direct.body?.message || direct.body?.error;
    assert.ok(msg, 'with a message');
    await page.goto(logsUrl({ expr: bad }));
    await settled(page);
    assert.equal(await state(page, 'logs-lines'), 'error');
    assert.equal((await page.innerText('#logs-error .log-error-text')).trim(), msg.trim());
    assert.match(await page.innerText('[data-panel="logs-lines"]'), new RegExp(msg.slice(0, 30).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.ok(await page.$('#logs-query.bad'), 'the box is marked');
    await shot(page, 'logs-bad-query');
    assert.deepEqual(page.problems.filter((p) => !/HTTP 400|status of 400/.test(p)), []);
    await page.close2();
  });

  test('an empty answer says what to do', async () => {
    const page = await open();
    await page.goto(logsUrl({ namespace: NS_A, grep: `absent-${RUN}` }));
    await settled(page);
    assert.equal(await state(page, 'logs-lines'), 'empty');
    assert.match(await page.innerText('[data-panel="logs-lines"]'), /No log line matches .*remove the line filter.*widen the range/s);
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('live tail shows lines pushed after the page opened, once each', async () => {
    const page = await open();
    await page.goto(logsUrl({ namespace: NS_A }));
    await settled(page);
    await page.click('#logs-live');
    assert.equal(await page.getAttribute('#logs-live', 'aria-pressed'), 'true');
    await page.waitForFunction(() => /Live/.test(document.querySelector('.live-state')?.textContent || ''));
    const ts = (BigInt(Date.now()) * 1000000n + 4242n).toString();
    const first = `live one ${RUN}`, second = `live two ${RUN}`;
    await push([[{ namespace: NS_A, pod: POD, container: 'web', stream: 'stdout', app: APP }, [[ts, first]]]]);
    await page.waitForFunction((t) => document.querySelector('[data-panel="logs-lines"] .log-line .log-text')?.textContent === t, first, { timeout: 15000 });
    // a second line at the same nanosecond (the poll's boundary), in another stream
    await push([[{ namespace: NS_A, pod: POD, container: 'sidecar', stream: 'stderr', app: APP }, [[ts, second]]]]);
    await page.waitForFunction((t) => [...document.querySelectorAll('[data-panel="logs-lines"] .log-text')].some((e) => e.textContent === t), second, { timeout: 15000 });
    // a late line: older than the newest shown (its stream lags), it goes to its place
    const lateTs = (BigInt(ts) - 2_000_000_000n).toString(), late = `live late ${RUN}`;
    await push([[{ namespace: NS_A, pod: POD, container: 'web', stream: 'stdout', app: APP }, [[lateTs, late]]]]);
    await page.waitForFunction((t) => [...document.querySelectorAll('[data-panel="logs-lines"] .log-text')].some((e) => e.textContent === t), late, { timeout: 15000 });
    await page.waitForTimeout(3500); // two more polls: nothing comes twice
    const got = await rows(page);
    for (const t of [first, second, late]) assert.equal(got.filter((r) => r.text === t).length, 1, `"${t}" once`);
    assert.deepEqual(got.slice(0, 3).map((r) => r.ts), [ts, ts, lateTs], 'the new lines on top, the late one below them');
    const tsList = got.map((r) => BigInt(r.ts));
    assert.ok(tsList.every((t, i) => i === 0 || tsList[i - 1] >= t), 'newest first throughout');
    assert.equal(got.length, linesOf((l) => l.namespace === NS_A).length + 3, 'the old lines stay');
    await page.click('#logs-live');
    assert.equal(await page.getAttribute('#logs-live', 'aria-pressed'), 'false');
    assert.deepEqual(page.problems, []);
    await page.close2();
  });
  test('"Load older lines" pages by the oldest timestamp: every line once, in order', async () => {
    const page = await open();
    await page.goto(logsUrl({ namespace: NS_C }));
    await settled(page);
    const want = linesOf((l) => l.namespace === NS_C);
    assert.equal(want.length, 520);
    let got = await rows(page);
    assert.equal(got.length, 500, 'one page: the newest 500');
    assert.deepEqual(got.slice(0, 497).map((r) => r.text), want.slice(0, 497).map((w) => w.line), 'the first 497 in order (the next 3 share a timestamp)');
    assert.match(await page.innerText('[data-panel="logs-lines"] .log-count'), /the newest 500 of the range/);
    await page.click('#logs-older');
    await page.waitForFunction(() => document.querySelectorAll('[data-panel="logs-lines"] .log-line').length > 500, null, { timeout: 15000 });
    await page.waitForFunction(() => !document.querySelector('#logs-older') || document.querySelector('#logs-older').hidden, null, { timeout: 15000 });
    got = await rows(page);
    assert.equal(got.length, 520, 'every line once');
    assert.deepEqual([...got.map((r) => r.text)].sort(), want.map((w) => w.line).sort());
    assert.deepEqual(got.map((r) => r.ts), want.map((w) => w.ts), 'newest first throughout');
    assert.match(await page.innerText('[data-panel="logs-lines"] .log-foot'), /no older line/);
    assert.deepEqual(page.problems, []);
    await page.close2();
  });
});

describe('the pod page\'s logs', { skip }, () => {
  test('shows the pod\'s lines, picks a container, links to the Logs page and the events', async () => {
    const page = await open();
    await page.goto(`${URL0}/ui/pods/${NS_A}/${POD}`);
    await settled(page);
    assert.equal(await state(page, 'pod-logs'), 'ready');
    // the live test pushed two more lines of this pod: ask the server what it holds
    const held = await lokiRange(`{namespace="${NS_A}", pod="${POD}"}`);
    const want = held.body.data.result.flatMap((s) => s.values.map(([t, l]) => [t, l])).sort((a, b) => (BigInt(b[0]) > BigInt(a[0]) ? 1 : BigInt(b[0]) < BigInt(a[0]) ? -1 : 0));
    assert.ok(want.length >= 36);
    const got = await rows(page, 'pod-logs');
    assert.deepEqual(got.map((r) => r.ts), want.map(([t]) => t), 'the pod\'s lines, newest first');
    assert.deepEqual(got.map((r) => r.time), want.map(([t]) => inZone(t)));
    await page.waitForSelector('#pod-logs-container option[value="sidecar"]', { state: 'attached' });
    assert.equal(await page.isVisible('#pod-logs-container'), true, 'two containers: a picker');
    await page.selectOption('#pod-logs-container', 'web');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-panel="pod-logs"] .log-src')].every((s) => s.textContent === 'web'), null, { timeout: 15000 });
    await settled(page);
    const web = (await rows(page, 'pod-logs'));
    assert.equal(web.length, want.filter(([, l]) => !/sidecar|live two/.test(l)).length, 'the web container\'s lines');
    const open1 = await page.getAttribute('#pod-logs-open', 'href');
    assert.equal(new URL(open1, URL0).searchParams.get('expr'), `{pod="${POD}", container="web"}`);
    assert.equal(new URL(await page.getAttribute('#pod-events', 'href'), URL0).searchParams.get('expr'), `{source="kubernetes-events", kind="Pod", name="${POD}"}`);
    await shot(page, 'logs-pod-page');
    await page.click('#pod-logs-open');
    await page.waitForURL(/\/ui\/logs\?/);
    await settled(page);
    assert.equal(await page.inputValue('#logs-query'), `{namespace="${NS_A}", pod="${POD}", container="web"}`);
    assert.equal((await rows(page)).length, web.length);
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('"Events" shows the pod\'s Kubernetes events', async () => {
    const ev = `Successfully pulled image "registry.example.com/shop/web:${RUN}"`;
    await push([[{ source: 'kubernetes-events', namespace: NS_A, kind: 'Pod', name: POD, reason: 'Pulled', type: 'Normal' }, [[(BigInt(Date.now() - 60e3) * 1000000n).toString(), ev]]]]);
    const page = await open();
    await page.goto(`${URL0}/ui/pods/${NS_A}/${POD}`);
    await settled(page);
    await page.click('#pod-head-events');
    await page.waitForURL(/\/ui\/logs\?/);
    await settled(page);
    const got = await rows(page);
    assert.deepEqual(got.map((r) => r.text), [ev]);
    assert.deepEqual(page.problems, []);
    await page.close2();
  });

  test('the dataset\'s pods show their logs (JSON access logs, Java stack traces)', { skip: LOGS ? false : 'KMON_UI_LOGS is not set (run_e2e.py pushes the dataset\'s logs)' }, async () => {
    const page = await open();
    const [ns, pod] = LOGS.java_pod;
    await page.goto(`${URL0}/ui/pods/${ns}/${pod}`);
    await settled(page);
    assert.equal(await state(page, 'pod-logs'), 'ready');
    const got = await rows(page, 'pod-logs');
    assert.ok(got.length > 20, `${got.length} lines`);
    const trace = got.findIndex((r) => /\n\tat com\.example/.test(r.text));
    assert.ok(trace >= 0, 'a Java stack trace among the newest lines');
    {
      assert.equal(got[trace].level, 'error');
      await page.click(`[data-panel="pod-logs"] .log-line:nth-child(${trace + 1}) .log-time`);
      await page.waitForSelector('[data-panel="pod-logs"] .log-detail');
      assert.match(got[trace].text, /\nCaused by: java\.sql\.SQLTransientConnectionException/, 'the whole trace is one line');
    }
    await shot(page, 'logs-dataset-pod');
    const [ans] = LOGS.access_pod;
    await page.goto(logsUrl({ namespace: ans }));
    await settled(page);
    assert.equal(await state(page, 'logs-volume'), 'ready');
    assert.ok((await rows(page)).length > 50);
    await page.screenshot({ path: path.join(ART, 'logs-dataset.png') });
    assert.deepEqual(page.problems, []);
    await page.close2();
  });
});
