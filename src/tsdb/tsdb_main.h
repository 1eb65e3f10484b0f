/*
 * tsdb_main — the `kmon tsdb` command (tools over a data directory: inspect).
 */
#ifndef KMON_TSDB_TSDB_MAIN_H
#define KMON_TSDB_TSDB_MAIN_H

int km_tsdb_main(int argc, char **argv);

#endif
