/*
 * demo_main — the `kmon demo` command (server + agent for this host).
 */
#ifndef KMON_DEMO_DEMO_MAIN_H
#define KMON_DEMO_DEMO_MAIN_H

int km_demo_main(int argc, char **argv);

#endif
