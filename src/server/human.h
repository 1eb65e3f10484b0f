/*
 * human — the human-readable companions the prototype put beside every raw number:
 * "2.53 GB", "49.6 KB/s", "150m". Sizes use powers of 1024 with the prototype's unit
 * names (KB, MB, GB, TB). Pure; thread-safe.
 */
#ifndef KMON_SERVER_HUMAN_H
#define KMON_SERVER_HUMAN_H

#include <stddef.h>

/* "512 B", "1.50 KB", "2.53 GB". */
void km_human_bytes(char *out, size_t size, double bytes);
/* The same per second: "49.6 KB/s". */
void km_human_rate(char *out, size_t size, double bytes_per_s);
/* Millicores: "150m". */
void km_human_cpu(char *out, size_t size, double millicores);

#endif
