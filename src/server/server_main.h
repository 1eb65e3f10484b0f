/*
 * server_main — the `kmon server` command.
 */
#ifndef KMON_SERVER_SERVER_MAIN_H
#define KMON_SERVER_SERVER_MAIN_H

int km_server_main(int argc, char **argv);

#endif
