// shoot.mjs — dev tool: screenshots of dashboard pages in headless Chromium,
// printing console errors and failed requests.
// Usage: node web/shoot.mjs http://127.0.0.1:5310/ui/ [path ...]  (env SCHEME=dark, OUT=/tmp/ui-shots)
import { chromium } from 'playwright-core';
import fs from 'node:fs';

const base = process.argv[2] || 'http://127.0.0.1:5310/ui/';
const paths = process.argv.slice(3).length ? process.argv.slice(3) : [''];
const out = process.env.OUT || '/tmp/ui-shots';
fs.mkdirSync(out, { recursive: true });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, colorScheme: process.env.SCHEME || 'light' });
const page = await ctx.newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log('console', m.type(), m.text()); });
page.on('pageerror', (e) => console.log('pageerror', e.message));
page.on('requestfailed', (r) => console.log('requestfailed', r.url(), r.failure()?.errorText));
for (const p of paths) {
  const t0 = Date.now();
  await page.goto(base + p, { waitUntil: 'load' });
  await page.waitForFunction(() => { const ps = [...document.querySelectorAll('[data-panel]')]; return ps.length && ps.every((x) => x.dataset.state); }, null, { timeout: 20000 }).catch(() => console.log('timeout waiting for panels on', p));
  await page.waitForTimeout(300);
  const states = await page.$$eval('[data-panel]', (ps) => ps.map((x) => `${x.dataset.panel}=${x.dataset.state}`).join(' '));
  const name = (p.replace(/[^a-z0-9]+/gi, '_') || 'overview') + (process.env.SCHEME === 'dark' ? '-dark' : '');
  await page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
  console.log(p || '/', `${Date.now() - t0}ms`, states);
}
await browser.close();
