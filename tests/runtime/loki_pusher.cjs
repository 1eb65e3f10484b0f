// loki_pusher — a real Loki client for test_logs_api.py: winston with the winston-loki
// transport (from web/node_modules, installed by scripts/web-deps.sh test) logs N lines
// to a Loki push URL, in protobuf (snappy) or JSON, then flushes and exits 0 only when
// every batch was acknowledged.
//   node loki_pusher.cjs BASE_URL proto|json N TAG
'use strict'
const winston = require('winston')
const LokiTransport = require('winston-loki')

const [host, mode, count, tag] = process.argv.slice(2)
let failed = false
const transport = new LokiTransport({
  host,
  json: mode === 'json',
  labels: { app: 'node-pusher', mode },
  format: winston.format.printf((info) => info.message),
  batching: true,
  interval: 0.2,
  gracefulShutdown: false,
  onConnectionError: (err) => {
    failed = true
    console.error('loki push failed:', err && err.message ? err.message : err)
  }
})
const logger = winston.createLogger({ level: 'info', transports: [transport] })

for (let i = 0; i < Number(count); i++) {
  logger.info(`${tag} line ${i}`)
}
setTimeout(async () => {
  await transport.flush()
  await transport.close()
  process.exit(failed ? 1 : 0)
}, 500)
