/*
 * encode — the agent's last collection as one remote_write request: every published
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

/* Encode the agent's published sets, with their families' metadata when `metadata` is
 * set; *body points to the snappy-compressed request (valid until the next call),
 * *samples is how many it carries (0: nothing to send, metadata included). */
int km_ship_encode(struct km_ship_encoder *e, struct km_agent *a, bool metadata, const void **body,
                   size_t *len, uint32_t *samples);

#endif
