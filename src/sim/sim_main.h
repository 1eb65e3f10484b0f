/*
 * sim_main — `kmon simulate`: a cluster of N simulated nodes (model.h) whose agents and
 * cluster-state collector (series.h) push to a server over remote_write (push.h) from
 * several connections, in real time or as fast as the server takes it.
 */
#ifndef KMON_SIM_SIM_MAIN_H
#define KMON_SIM_SIM_MAIN_H

int km_sim_main(int argc, char **argv);

#endif
