// tests/ui/auth_prompt.mjs — the dashboard of a server with --tokens, in Debian's headless
// Chromium (playwright-core from web/node_modules): the first API call's 401 opens the
// token prompt, a wrong token is asked again, the right one is kept (localStorage) and
// sent on every call, the overview draws, the cluster filter lists what the token may
// see, and "Sign out" forgets it. Run by tests/runtime/test_auth_ui.py:
//   node tests/ui/auth_prompt.mjs BASE_URL TOKEN CLUSTERS(comma-separated)
import assert from 'node:assert/strict';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');
const [base, token, clusters] = process.argv.slice(2);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const authed = [];
  page.on('request', (r) => { if (r.url().includes('/api/')) authed.push(r.headers().authorization || ''); });

  await page.goto(`${base}/ui/`);
  const dlg = page.locator('#auth-dialog');
  await dlg.waitFor({ state: 'visible', timeout: 15000 });
  assert.equal(await dlg.count(), 1, 'one prompt for all the calls refused');
  // A wrong token: asked again, saying so.
  await page.fill('#auth-token', 'not-the-token');
  await page.click('#auth-submit');
  await page.waitForFunction(() => /does not know/.test(document.querySelector('#auth-why')?.textContent || ''), null, { timeout: 15000 });
  await page.fill('#auth-token', token);
  await page.click('#auth-submit');
  await dlg.waitFor({ state: 'detached', timeout: 15000 });
  // The overview draws with the token, and the cluster filter lists the token's clusters.
  await page.waitForFunction(() => {
    const ps = [...document.querySelectorAll('[data-panel]')];
    return ps.length > 0 && ps.every((p) => p.dataset.state);
  }, null, { timeout: 30000 });
  await page.waitForFunction((want) => {
    const opts = [...document.querySelectorAll('#f-cluster option')].map((o) => o.value).filter(Boolean);
    return opts.join(',') === want;
  }, clusters, { timeout: 15000 });
  assert.equal(await page.evaluate(() => localStorage.getItem('kmon.token')), token);
  assert.ok(authed.some((a) => a === `Bearer ${token}`), 'API calls carry the token');
  assert.ok(await page.isVisible('#sign-out'));
  // Reloading keeps the token: no prompt.
  await page.reload();
  await page.waitForSelector('[data-panel]', { timeout: 15000 });
  await page.waitForTimeout(500);
  assert.equal(await page.locator('#auth-dialog').count(), 0);
  // Sign out: forgotten, asked again.
  await page.click('#sign-out');
  await page.locator('#auth-dialog').waitFor({ state: 'visible', timeout: 15000 });
  assert.equal(await page.evaluate(() => localStorage.getItem('kmon.token')), null);
  assert.deepEqual(errors, []);
  console.log('ok');
} finally {
  await browser.close();
}
