/*
 * query_main — the `kmon query` command: one PromQL expression evaluated over a data
 * directory (read-only) or asked of a running server, its answer printed.
 */
#ifndef KMON_QUERY_QUERY_MAIN_H
#define KMON_QUERY_QUERY_MAIN_H

int km_query_main(int argc, char **argv);

#endif
