// mcp_client — the real MCP client for test_mcp.py and bench/mcp_bench.py: the SDK's
// Client (from web/node_modules, installed by scripts/web-deps.sh test) over the
// Streamable HTTP transport to BASE/mcp, or over the stdio transport by spawning
// `KMON mcp --server BASE`. It initialises, lists tools, resources and prompts, reads
// every resource, gets every prompt with the arguments given, calls each tool call of
// the plan (tools/call; an error thrown by the client is recorded, not fatal), and
// prints one JSON document with everything it got, timing each call when asked.
//   node mcp_client.cjs http|stdio BASE KMON PLAN.json [TOKEN_FILE]
// PLAN.json: {"calls": [{"name": …, "arguments": {…}}, …], "prompts": {"name": {args}},
//             "repeat": N (calls made N times, for timing)}
'use strict'
const fs = require('fs')
const { Client } = require('@modelcontextprotocol/sdk/client/index.js')
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js')
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js')

const [mode, base, kmon, planFile, tokenFile] = process.argv.slice(2)
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'))

function transport () {
  if (mode === 'stdio') {
    const args = ['mcp', '--server', base]
    if (tokenFile) args.push('--token-file', tokenFile)
    return new StdioClientTransport({ command: kmon, args, stderr: 'inherit' })
  }
  const headers = {}
  if (tokenFile) headers.Authorization = 'Bearer ' + fs.readFileSync(tokenFile, 'utf8').trim()
  return new StreamableHTTPClientTransport(new URL(base + '/mcp'), { requestInit: { headers } })
}

function errorOf (e) {
  return { code: e.code === undefined ? null : e.code, message: String(e.message || e) }
}

async function main () {
  const out = {}
  const client = new Client({ name: 'kmon-test', version: '1.0.0' })
  const t = transport()
  await client.connect(t)
  out.server = client.getServerVersion()
  out.capabilities = client.getServerCapabilities()
  out.instructions = client.getInstructions()
  out.sessionId = t.sessionId === undefined ? null : t.sessionId
  out.protocolVersion = t.protocolVersion === undefined ? null : t.protocolVersion
  out.tools = (await client.listTools()).tools
  out.resources = (await client.listResources()).resources
  out.prompts = (await client.listPrompts()).prompts
  out.reads = {}
  for (const r of out.resources) out.reads[r.uri] = await client.readResource({ uri: r.uri })
  try {
    await client.readResource({ uri: 'kmon://nope' })
    out.badRead = null
  } catch (e) { out.badRead = errorOf(e) }
  out.gotPrompts = {}
  for (const [name, args] of Object.entries(plan.prompts || {})) {
    try {
      out.gotPrompts[name] = await client.getPrompt({ name, arguments: args })
    } catch (e) { out.gotPrompts[name] = { error: errorOf(e) } }
  }
  await client.ping()
  out.calls = []
  for (const c of plan.calls || []) {
    const times = []
    let got
    for (let i = 0; i < (plan.repeat || 1); i++) {
      const t0 = process.hrtime.bigint()
      try {
        got = await client.callTool({ name: c.name, arguments: c.arguments })
      } catch (e) { got = { error: errorOf(e) } }
      times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    out.calls.push({ name: c.name, arguments: c.arguments, result: got, ms: times })
  }
  await client.close()
  process.stdout.write(JSON.stringify(out))
}

main().catch((e) => {
  process.stderr.write('mcp_client: ' + (e.stack || e) + '\n')
  process.exit(1)
})
