#!/usr/bin/env node
// ui-bench — how fast the dashboard's pages are in a real browser (Debian's chromium
// driven by playwright-core) against a server holding a cluster's data (tests/ui/
// gen_cluster.py: 100 nodes, 3 000 pods). For each page, over --runs loads:
//   queries   the page's API calls: how many, their summed server time (requestStart →
//             responseEnd) and the wall time from the first request to the last answer
//   render    from the last answer to every panel drawn (data-state set on every
//             [data-panel]): the page's own work
//   total     from navigation to every panel drawn
// Median and worst of the runs. --calls lists each API call of the last run with its
// server time, slowest first: where a page's time goes; --json prints a JSON line per page
// instead of the table (bench/cluster-sim-bench.py reads it). Usage:
//   node bench/ui-bench.mjs --url http://127.0.0.1:5302 [--runs 10] [--pages overview,pods] [--calls] [--json]
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

const PAGES = {
  overview: '/ui/?range=1h',
  nodes: '/ui/nodes?range=1h',
  namespaces: '/ui/namespaces?range=1h',
  workloads: '/ui/workloads?range=1h',
  pods: '/ui/pods?range=1h',
};

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
}

function stats(v) {
  const s = [...v].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], worst: s[s.length - 1] };
}

const fmt = (x) => x.toFixed(0).padStart(6);

async function measure(page, url) {
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => {
    const p = [...document.querySelectorAll('[data-panel]')];
    return p.length > 0 && p.every((e) => e.dataset.state);
  }, null, { timeout: 60000 });
  return page.evaluate(() => {
    const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/'));
    const ready = window.__kmonReady || performance.now();
    const last = Math.max(...api.map((e) => e.responseEnd));
    const first = Math.min(...api.map((e) => e.startTime));
    return {
      n: api.length,
      server: api.reduce((s, e) => s + (e.responseEnd - e.requestStart), 0),
      wall: last - first,
      render: ready - last,
      total: ready,
    };
  });
}

async function main() {
  const base = arg('url');
  const runs = Number(arg('runs', '10'));
  const pages = arg('pages', Object.keys(PAGES).join(',')).split(',');
  const json = process.argv.includes('--json');
  if (!base) {
    console.error('usage: node bench/ui-bench.mjs --url URL [--runs N] [--pages a,b]');
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    // When the last panel gets its data-state: the moment the page is drawn.
    await ctx.addInitScript(() => {
      new MutationObserver(() => {
        const p = [...document.querySelectorAll('[data-panel]')];
        if (p.length && p.every((e) => e.dataset.state)) window.__kmonReady = performance.now();
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
    });
    if (!json) {
      console.log('page        calls  server ms (med/worst)  wall ms (med/worst)  ' +
        'render ms (med/worst)  total ms (med/worst)');
    }
    for (const name of pages) {
      const page = await ctx.newPage();
      const r = [];
      await measure(page, base + PAGES[name]); // warm: the browser's cache of the app
      let calls = [];
      const onDone = (q) => {
        if (!q.url().includes('/api/')) return;
        const t = q.timing();
        const body = q.postData() ? `?${q.postData()}` : '';
        calls.push({ ms: t.responseEnd - t.requestStart, what: new URL(q.url()).pathname + decodeURIComponent(body.replace(/\+/g, ' ')) });
      };
      page.on('requestfinished', onDone);
      for (let i = 0; i < runs; i++) {
        calls = [];
        r.push(await measure(page, base + PAGES[name]));
      }
      page.off('requestfinished', onDone);
      await page.close();
      const s = (k) => stats(r.map((x) => x[k]));
      if (json) {
        const o = { page: name, calls: r[0].n };
        for (const k of ['server', 'wall', 'render', 'total']) o[`${k}_ms`] = s(k);
        console.log(JSON.stringify(o));
        continue;
      }
      console.log(`${name.padEnd(11)} ${String(r[0].n).padStart(5)}  ` +
        `${fmt(s('server').median)} /${fmt(s('server').worst)}        ` +
        `${fmt(s('wall').median)} /${fmt(s('wall').worst)}      ` +
        `${fmt(s('render').median)} /${fmt(s('render').worst)}        ` +
        `${fmt(s('total').median)} /${fmt(s('total').worst)}`);
      if (process.argv.includes('--calls')) {
        for (const c of calls.sort((a, b) => b.ms - a.ms)) console.log(`  ${fmt(c.ms)}  ${c.what}`);
      }
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error('ui-bench:', e.message);
  process.exit(1);
});
