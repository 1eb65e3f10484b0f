/*
 * loki_push_internal — what the protobuf and JSON decoders of loki_push share.
 */
#ifndef KMON_REMOTE_LOKI_PUSH_INTERNAL_H
#define KMON_REMOTE_LOKI_PUSH_INTERNAL_H

#include "loki_push.h"

/* Empty *p for a new decode of a body of len bytes: its arena initialised or reset,
 * capped at KM_LOKI_LIMIT_ARENA_FACTOR × len + KM_LOKI_LIMIT_ARENA_EXTRA. */
void km_loki_push_reset(struct km_loki_push *p, size_t len);

#endif
