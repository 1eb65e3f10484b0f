/*
 * mcp — the Model Context Protocol endpoint (`POST /mcp`, Streamable HTTP transport,
 * revisions 2025-06-18 and 2025-03-26): JSON-RPC requests answered with one JSON body,
 * tools that query kmon's own stores in-process (PromQL, LogQL, alerts), two resources
 * (the metric catalogue, the rules) and two prompts. docs/mcp.md is the user's guide.
 *
 * Threads: the handlers run on the HTTP server's workers; every call reads the stores
 * through the request's own view (auth/auth.h), nothing is kept between requests (the
 * session id is checked, not stored).
 */
#ifndef KMON_SERVER_MCP_MCP_H
#define KMON_SERVER_MCP_MCP_H

#include "common/http_server.h"

#include <stddef.h>

/* POST, GET (405) and DELETE /mcp; their context is the struct km_server. */
extern const struct km_http_route km_mcp_routes[];
extern const size_t km_mcp_nroutes;

/* `kmon mcp --server URL`: the stdio transport (mcp_stdio.c). */
int km_mcp_stdio_main(int argc, char **argv);

#endif
