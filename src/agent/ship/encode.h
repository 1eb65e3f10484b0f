/*
 * encode — the agent's last collection as remote_write requests: every published
 * family except those marked node-local (KM_MF_LOCAL: figures the server derives
 * itself), each sample a series with its family name, its labels and the identity
 * labels (node, cluster) unless it has them already, at the collection's timestamp;
 * and, when asked, the metadata of those families (TYPE and HELP, as the agent serves
 * them on its /metrics: counter, gauge, untyped as unknown) in the same request.
 *
 * One encoder per agent; its buffers are reused from one collection to the next.
 */
#ifndef KMON_AGENT_SHIP_ENCODE_H
#define KMON_AGENT_SHIP_ENCODE_H

#include "agent/runtime.h"
#include "common/buf.h"
#include "common/labels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_ship_encoder;

int km_ship_encoder_create(struct km_ship_encoder **out, const struct km_label *identity,
                           size_t nidentity);
void km_ship_encoder_destroy(struct km_ship_encoder *e);

/* Replace the identity labels (borrowed until the next call; for a sender of many nodes'
 * collections, kmon simulate). 0 or KM_EINVAL when there are too many. */
int km_ship_encoder_set_identity(struct km_ship_encoder *e, const struct km_label *identity,
                                 size_t nidentity);

/* Samples per request: a collection of a million series (a large cluster's state) goes
 * as many requests, each well under the server's body limits, and the encoder's memory
 * is one batch's. */
#define KM_SHIP_BATCH_SAMPLES 10000

/* Takes one compressed request (valid during the call) of `samples` samples; non-zero
 * stops the encoding and is returned. */
typedef int (*km_ship_body_fn)(void *ud, const void *body, size_t len, uint32_t samples);

/* Encode the agent's published sets as requests of at most KM_SHIP_BATCH_SAMPLES
 * samples, in order, each handed to fn; the families' metadata rides in the first when
 * `metadata` is set. *samples is how many were handed on (0: nothing to send). */
int km_ship_encode(struct km_ship_encoder *e, struct km_agent *a, bool metadata, km_ship_body_fn fn,
                   void *ud, uint64_t *samples);

/* The same for sets the caller holds (a collector's part shipped during the
 * collection). */
int km_ship_encode_sets(struct km_ship_encoder *e, const struct km_mset *const *sets, size_t n,
                        bool metadata, km_ship_body_fn fn, void *ud, uint64_t *samples);

#endif
