// otlp_push — a real OpenTelemetry client for test_otlp.py: the JS SDK (from web/node_modules,
// installed by scripts/web-deps.sh test) with its OTLP/HTTP exporters pushes metrics (a
// counter, a gauge, an explicit and an exponential histogram) and log records to kmon,
// with k8s.* and service.* resource attributes, and exits 0 only when every export was
// acknowledged.
//   node otlp_push.cjs BASE_URL json|proto cumulative|delta TAG [ROUNDS]
// Each round adds 5 to the counter (so a delta exporter's points must add up to 5 ×
// ROUNDS), records 42 on the gauge and 0.2, 0.7, 2 on each histogram, emits two log
// records (WARN, then severity number 17 without text), and flushes.
'use strict'
const { diag, DiagConsoleLogger, DiagLogLevel } = require('@opentelemetry/api')
const { SeverityNumber } = require('@opentelemetry/api-logs')
const { resourceFromAttributes } = require('@opentelemetry/resources')
const {
  MeterProvider,
  PeriodicExportingMetricReader,
  AggregationType
} = require('@opentelemetry/sdk-metrics')
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs')
const http = require('@opentelemetry/exporter-metrics-otlp-http')
const proto = require('@opentelemetry/exporter-metrics-otlp-proto')
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http')

const [base, mode, temporality, tag, roundsArg] = process.argv.slice(2)
const rounds = Number(roundsArg || 1)
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN)

const resource = resourceFromAttributes({
  'service.name': `shop-${mode}-${temporality}`,
  'service.namespace': 'demo',
  'service.instance.id': 'shop-1:8080',
  'k8s.namespace.name': 'prod',
  'k8s.pod.name': 'shop-1',
  'k8s.node.name': 'node-a',
  'k8s.cluster.name': 'east',
  'k8s.container.name': 'app',
  'host.arch': 'amd64',
  'test.tag': tag
})
const Exporter = mode === 'proto' ? proto.OTLPMetricExporter : http.OTLPMetricExporter
const exporter = new Exporter({
  url: `${base}/v1/metrics`,
  temporalityPreference:
    temporality === 'delta'
      ? http.AggregationTemporalityPreference.DELTA
      : http.AggregationTemporalityPreference.CUMULATIVE
})
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600000 })
const meters = new MeterProvider({
  resource,
  readers: [reader],
  views: [
    { instrumentName: 'payload.size', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }
  ]
})
const meter = meters.getMeter('otlp-push', '1.2.3')
const counter = meter.createCounter('http.requests', { unit: '{request}', description: 'Requests served.' })
const gauge = meter.createGauge('queue.depth', { unit: 'By', description: 'Bytes queued.' })
const hist = meter.createHistogram('http.duration', {
  unit: 's',
  description: 'Request time.',
  advice: { explicitBucketBoundaries: [0.1, 0.5, 1] }
})
const ehist = meter.createHistogram('payload.size', { unit: 'By' })

const logs = new LoggerProvider({
  resource,
  processors: [
    new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${base}/v1/logs` }) })
  ]
})
const logger = logs.getLogger('otlp-push', '1.2.3')

async function main () {
  for (let r = 0; r < rounds; r++) {
    counter.add(5, { route: '/a', 'http.method': 'GET' })
    gauge.record(42, { queue: 'q1' })
    for (const v of [0.2, 0.7, 2]) {
      hist.record(v, { route: '/a' })
      ehist.record(v * 1000, { route: '/a' })
    }
    logger.emit({
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: `${tag} round ${r} warn`,
      attributes: { route: '/a' }
    })
    logger.emit({ severityNumber: 17, body: `${tag} round ${r} error` })
    await reader.forceFlush()
    await logs.forceFlush()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await meters.shutdown()
  await logs.shutdown()
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('otlp push failed:', err && err.message ? err.message : err)
    process.exit(1)
  }
)
