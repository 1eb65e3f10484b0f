/*
 * logs_main — the `kmon logs` command: `kmon logs query 'LOGQL'` (over a data
 * directory's log store or a server's Loki API) and `kmon logs inspect DIR`.
 */
#ifndef KMON_LOGS_CMD_LOGS_MAIN_H
#define KMON_LOGS_CMD_LOGS_MAIN_H

/* Returns the exit status. */
int km_logs_main(int argc, char **argv);

#endif
