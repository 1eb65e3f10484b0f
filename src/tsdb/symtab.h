/*
 * symtab — interned strings of the head: every label name and value is stored once and
 * series refer to it by a 32-bit id, so 10 000 series that share `namespace="default"`
 * hold one copy of each string.
 *
 * Threads: intern and release take the table's mutex (they happen when series are
 * created or removed); km_symtab_str() takes no lock and is safe while the caller holds
 * a reference to the id (entries never move: they live in fixed pages, and an old page
 * directory stays valid until the table is destroyed).
 */
#ifndef KMON_TSDB_SYMTAB_H
#define KMON_TSDB_SYMTAB_H

#include <stddef.h>
#include <stdint.h>

struct km_symtab;

int km_symtab_create(struct km_symtab **out);
void km_symtab_destroy(struct km_symtab *st);

/* The id of s[0..n), interned if new, with one more reference. KM_ENOMEM on failure. */
int km_symtab_intern(struct km_symtab *st, const char *s, size_t n, uint32_t *id);

/* The id of s[0..n) without interning or referencing; KM_ENOTFOUND if absent. */
int km_symtab_find(struct km_symtab *st, const char *s, size_t n, uint32_t *id);

/* Drop one reference; the string is freed with the last. */
void km_symtab_release(struct km_symtab *st, uint32_t id);

/* The string of a referenced id. */
const char *km_symtab_str(const struct km_symtab *st, uint32_t id);

/* The same with its length (without the NUL) in *len. */
const char *km_symtab_strn(const struct km_symtab *st, uint32_t id, uint32_t *len);

/* Symbols held and the bytes they take. */
size_t km_symtab_count(struct km_symtab *st);
size_t km_symtab_bytes(struct km_symtab *st);

#endif
