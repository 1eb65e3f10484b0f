// dev-server.mjs — development server (node, no deps): serves web/src at /ui/,
// uPlot's dist files at /ui/vendor/, index.html for deep /ui/ paths, with the
// production CSP, and proxies /api/ to the kmon at KMON_URL.
// Usage: KMON_URL=http://127.0.0.1:5301 PORT=5310 node web/dev-server.mjs

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.join(here, 'src');
const VENDOR = path.join(here, 'node_modules', 'uplot', 'dist');
const KMON = new URL(process.env.KMON_URL || 'http://127.0.0.1:5301');
const PORT = Number(process.env.PORT || 5310);
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png' };

function send(res, file) {
  fs.readFile(file, (err, buf) => {
    if (err) { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('not found'); return; }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' });
    res.end(buf);
  });
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/api/')) {
    const p = http.request({ host: KMON.hostname, port: KMON.port, method: req.method, path: req.url, headers: { ...req.headers, host: KMON.host } }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    p.on('error', () => { res.writeHead(502, { 'Content-Type': 'application/json' }); res.end('{"status":"error","errorType":"unavailable","error":"kmon is not reachable"}'); });
    req.pipe(p);
    return;
  }
  if (url.pathname === '/' || url.pathname === '/ui') { res.writeHead(302, { Location: '/ui/' }); res.end(); return; }
  if (!url.pathname.startsWith('/ui/')) { res.writeHead(404); res.end(); return; }
  const rel = decodeURIComponent(url.pathname.slice(4));
  if (rel.split('/').includes('..')) { res.writeHead(400); res.end(); return; }
  if (rel.startsWith('vendor/')) { send(res, path.join(VENDOR, rel.slice(7))); return; }
  const last = rel.split('/').pop();
  if (!last.includes('.')) { send(res, path.join(SRC, 'index.html')); return; }
  send(res, path.join(SRC, rel));
}).listen(PORT, '127.0.0.1', () => console.log(`kmon ui dev server: http://127.0.0.1:${PORT}/ui/ → ${KMON.href}`));
