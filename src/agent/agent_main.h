/*
 * agent_main — the `kmon agent` command.
 */
#ifndef KMON_AGENT_AGENT_MAIN_H
#define KMON_AGENT_AGENT_MAIN_H

int km_agent_main(int argc, char **argv);

#endif
