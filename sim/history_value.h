/* history_value.h — the values of a history beyond its fast integer fields (troupe.h
 * tr_value: strings, keywords, bytes, tuples): checking a value against the limits,
 * interning it, and the text forms the EDN and JSON writers and readers share.
 *
 * Why interning: a history holds each distinct value once (one allocation per distinct
 * value, never one per operation), and equal values share one address, so an operation's
 * completion is matched to its invoke, and a model's state compared, by address.
 *
 * Invariants:
 *   1. A value in the set passed tr__value_check: depth, sizes, UTF-8 and no NUL in strings,
 *      keyword names; it is never nil, an integer or (but for read and write) an integer pair,
 *      which live in tr_op's fast fields (tr__value_fast).
 *   2. The set holds at most TR_HISTORY_VALUES_MAX bytes of copies (then TR_EFULL).
 *   3. A copy never moves or changes: a view is valid until tr__value_set_deinit.
 * Ownership: the set owns its copies; tr__value_intern borrows its argument. Threading:
 * none. Deterministic: hashes are of contents, never of addresses.
 */
#ifndef TR_SIM_HISTORY_VALUE_H
#define TR_SIM_HISTORY_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "troupe.h"

typedef struct tr__value_slot {
    uint64_t hash;
    tr_value *value; /* owned: one block, the nodes then the bytes; NULL = empty */
} tr__value_slot;

typedef struct tr__value_set {
    tr__value_slot *slots; /* open addressing, linear probing, power-of-two capacity */
    size_t cap;
    size_t count;
    size_t bytes; /* of the copies */
} tr__value_set;

void tr__value_set_deinit(tr__value_set *s);

/* NULL if v fits the limits, else a constant one-line reason; *size: the bytes its copy
 * takes (at most TR_VALUE_SIZE_MAX). */
const char *tr__value_check(const tr_value *v, size_t *size);

/* The view of v in s, copying it if new: 0 and *out, TR_ENOMEM or TR_EFULL (invariant 2).
 * v must have passed tr__value_check (size is what it said). */
int tr__value_intern(tr__value_set *s, const tr_value *v, size_t size, const tr_value **out);

/* True if v goes in an op's fast fields: nil, an integer, or (pair_ok) a pair of integers. */
static inline bool tr__value_fast(const tr_value *v, bool pair_ok) {
    return v->kind == TR_VALUE_NIL || v->kind == TR_VALUE_INT ||
           (pair_ok && v->kind == TR_VALUE_TUPLE && v->len == 2 && v->items &&
            v->items[0].kind == TR_VALUE_INT && v->items[1].kind == TR_VALUE_INT);
}

/* A keyword's name: a letter, then letters, digits or -_.!?*+/, at most TR_HISTORY_NAME_MAX
 * bytes. */
bool tr__value_keyword_valid(const char *name, size_t len);
bool tr__value_utf8_valid(const char *s, size_t len);

/* Writes v as EDN (strings escaped: \" \\ \n \t \r, other control bytes \uXXXX). */
void tr__value_write_edn(FILE *out, const tr_value *v);

/* RFC 4648 base64 with padding. encode writes 4 * ceil(n / 3) characters and a NUL to out;
 * decode writes at most 3 * len / 4 bytes to out and returns 0, or -1 for text that is not
 * canonical base64. */
void tr__base64_encode(const uint8_t *in, size_t n, char *out);
int tr__base64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len);

#endif
