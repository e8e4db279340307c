/* history_import.h — what the JSON and EDN history readers share (sim/history_load.c,
 * sim/history_load_edn.c): error messages, op types and names, the bounded memory of one op's
 * value, and the append that explains a refusal with its position. Internal to sim/. */
#ifndef TR_SIM_HISTORY_IMPORT_H
#define TR_SIM_HISTORY_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/history.h"
#include "troupe.h"

/* The memory of one op's parsed value: a small inline arena (a pair costs no allocation),
 * then one block per allocation, all freed after the op; at most SCRATCH_MAX bytes, so a
 * hostile file cannot make one value take more than a bounded amount. */
#define SCRATCH_INLINE 256
#define SCRATCH_BLOCKS 64
#define SCRATCH_MAX (2u * TR_VALUE_SIZE_MAX)
typedef struct tr__scratch {
    _Alignas(max_align_t) unsigned char inline_buf[SCRATCH_INLINE];
    size_t inline_used;
    void **blocks;
    size_t count;
    size_t cap;
    size_t bytes;
} tr__scratch;

/* Formats the message into err[0..cap) (nothing when err is NULL or cap 0). */
void tr__import_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "invoke", "ok", "fail", "info" (with or without a leading ':') as *out; -1 for another. */
int tr__import_type(const char *s, uint8_t *out);
/* The op name s interned in h as *out; -1 when h holds TR_HISTORY_F_MAX names already. */
int tr__import_f(tr_history *h, const char *s, uint8_t *out);
/* Takes ownership of block (freed by tr__scratch_reset); false (and block freed) if it cannot:
 * out of memory, or past SCRATCH_MAX. */
bool tr__scratch_adopt(tr__scratch *s, void *block, size_t n);
/* n bytes that live until tr__scratch_reset, or NULL (out of memory, or past SCRATCH_MAX). */
void *tr__scratch_alloc(tr__scratch *s, size_t n);
void tr__scratch_reset(tr__scratch *s);
void tr__scratch_deinit(tr__scratch *s);
/* True when v is a tuple of two integers. */
bool tr__import_int_pair(const tr_value *v);
/* Why a value of op name f is not the pair it must be, for a message (edn: in EDN's words). */
const char *tr__import_pair_why(uint8_t f, bool edn);
/* Appends one parsed op with its value v (NULL: in op's fast fields), translating failures
 * into a message naming the op's line and number n. */
int tr__import_append(tr_history *h, const tr_op *op, const tr_value *v, int line, size_t n,
                      char *err, size_t cap);

#endif
