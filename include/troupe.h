/*
 * troupe.h — the one public header of libtroupe.
 *
 * troupe is an actor runtime: each capability is an actor (behaviour + private state +
 * mailbox + address), actors talk only through messages whose bodies are msgpack, and the
 * same actor code runs on two engines:
 *   - the real engine: M:N worker threads, libuv for I/O and timers, LMDB on disk;
 *   - the sim engine: one thread, virtual time, N nodes in one process, seeded faults.
 * An actor cannot tell which engine runs it: everything nondeterministic (clock, random
 * numbers, scheduling, timers, the network, the store) is reached through the engine.
 *
 * Conventions (libuv's):
 *   - Functions that can fail return 0 or a negative TR_E* code; tr_strerror() names it.
 *   - A function that returns an error never calls its callback / sends its message.
 *   - Every pointer argument says whether it is borrowed, taken, or returned owned.
 *   - tr_ctx functions may be called only from inside that actor's callbacks, on the
 *     thread that runs them. tr_node functions may be called from any thread (real engine)
 *     or from the simulation's thread (sim engine).
 *
 * Delivery contract: at most once; FIFO per (sender, receiver) pair; a message to a dead or
 * unknown actor is counted as a dead letter. An actor's callbacks never run concurrently.
 */
#ifndef TROUPE_H
#define TROUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libtroupe is built with hidden visibility: what this header declares is its whole exported
 * interface, and the troupe binary exports it too, for the modules it loads. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define TR_VERSION_MAJOR 0
#define TR_VERSION_MINOR 1
#define TR_VERSION_PATCH 0
#define TR_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------------------ */
/* Errors: one project-wide list (libuv's UV_ERRNO_MAP).                                   */

#define TR_ERRNO_MAP(XX)                                           \
    XX(INVAL, "invalid argument")                                  \
    XX(NOMEM, "out of memory")                                     \
    XX(NOENT, "no such actor, name or key")                        \
    XX(EXIST, "already exists")                                    \
    XX(FULL, "mailbox or queue full")                              \
    XX(TIMEDOUT, "timed out")                                      \
    XX(CLOSED, "actor, node or connection closed")                 \
    XX(CORRUPT, "data is corrupt")                                 \
    XX(VERSION, "unsupported format or protocol version")          \
    XX(FOREIGN, "not a troupe data directory")                     \
    XX(IO, "input/output error")                                   \
    XX(PROTO, "protocol error")                                    \
    XX(AUTH, "authentication failed")                              \
    XX(TOOBIG, "message, frame or value too large")                \
    XX(AGAIN, "resource temporarily unavailable")                  \
    XX(NOTSUP, "operation not supported")                          \
    XX(BUSY, "resource busy")                                      \
    XX(NOSPC, "no space left")                                     \
    XX(UNREACH, "node unreachable")                                \
    XX(SHUTDOWN, "supervisor gave up: restart intensity exceeded") \
    XX(KILLED, "actor was killed")                                 \
    XX(LINKED, "a linked actor failed")                            \
    XX(FAILED, "actor failed")                                     \
    XX(NOPROC, "no such process (actor was not alive)")            \
    XX(NODEDOWN, "the actor's node went down")                     \
    XX(FORBIDDEN, "forbidden by the node's access policy")

enum tr__errno_index {
#define TR__XX(name, msg) TR__EIDX_##name,
    TR_ERRNO_MAP(TR__XX)
#undef TR__XX
    TR__ERRNO_COUNT
};

typedef enum tr_err {
    TR_OK = 0,
#define TR__XX(name, msg) TR_E##name = -(TR__EIDX_##name + 1),
    TR_ERRNO_MAP(TR__XX)
#undef TR__XX
} tr_err;

/* Returns a static string: "TR_EINVAL" / "invalid argument"; unknown codes give "unknown". */
const char *tr_err_name(int err);
const char *tr_strerror(int err);

/* ------------------------------------------------------------------------------------ */
/* Addresses and messages                                                                 */

/* An actor's address: the node it lives on and its actor id on that node. actor == 0 is no
 * actor; an id is never reused for another actor while the node runs (a generation sits in
 * the high 32 bits). */
typedef struct tr_addr {
    uint32_t node;
    uint32_t reserved_; /* zero */
    uint64_t actor;
} tr_addr;

#define TR_ADDR_NONE ((tr_addr){0, 0, 0})
static inline bool tr_addr_eq(tr_addr a, tr_addr b) {
    return a.node == b.node && a.actor == b.actor;
}
static inline bool tr_addr_is_none(tr_addr a) {
    return a.actor == 0;
}

/* System message types (below TR_MSG_USER). User types are >= TR_MSG_USER. */
enum {
    TR_MSG_NONE = 0,
    TR_MSG_TIMEOUT = 1,   /* a tr_request timed out (no body) or failed at once (a reply
                             whose body is the code: tr_msg_request_error); corr = the
                             request's corr */
    TR_MSG_DOWN = 2,      /* a monitored actor stopped; from = it; corr = monitor ref;
                             body = msgpack int: the reason (0 normal, else a TR_E code) */
    TR_MSG_EXIT = 3,      /* a linked actor stopped (delivered only when trapping exits);
                             from = it; body = msgpack int reason */
    TR_MSG_DURABLE = 4,   /* writes issued before tr_durable_notify are durable;
                             corr = the token it returned; body = msgpack int status */
    TR_MSG_NODE_DOWN = 5, /* a monitored node went down; from.node = that node */
    TR_MSG_NODE_UP = 6,   /* a monitored node is up (again); from.node = that node */
    TR_MSG_USER = 256
};

/* A message, as the receiver sees it. Fields are read-only for users; fields ending in an
 * underscore are private to the runtime. `body` points to `body_len` msgpack bytes (or raw
 * bytes if the sender chose so) and is valid only during the receive callback that got it:
 * copy what you keep. Inside a node a message travels by pointer: the body is written once,
 * by the sender, and never re-encoded; the envelope is encoded only when it leaves the node. */
/* A W3C trace context (the `traceparent` header's fields; section "Trace context and
 * deadlines"): an all-zero `id` is no trace. */
typedef struct tr_trace {
    uint8_t id[16];  /* trace id */
    uint8_t span[8]; /* parent span id: the span of the activation that sent the message */
    uint8_t flags;   /* W3C trace flags: bit 0 (TR_TRACE_SAMPLED) = sampled */
} tr_trace;

typedef struct tr_msg tr_msg;
struct tr_msg {
#ifndef __cplusplus
    tr_msg *_Atomic next_;
#else
    tr_msg *next_; /* C++ has no _Atomic: the same size and alignment, never touched by users */
#endif
    uint32_t type;
    uint32_t body_len;
    tr_addr from;
    tr_addr to;
    uint64_t corr;  /* correlation id (requests, replies, timers, monitors) */
    tr_trace trace; /* trace context, propagated by tr_send from the message being handled */
    const uint8_t *body;
    uint32_t flags_;
    uint32_t size_class_;
    uint64_t deadline_; /* absolute, this node's tr_now_ms; 0 = none (tr_msg_deadline_ms) */
};
#ifndef __cplusplus
_Static_assert(sizeof(tr_msg *_Atomic) == sizeof(tr_msg *) &&
                   _Alignof(tr_msg * _Atomic) == _Alignof(tr_msg *),
               "tr_msg has one layout in C and C++");
#endif

/* ------------------------------------------------------------------------------------ */
/* Message bodies: a msgpack writer and reader over caller memory (runtime/mp.c)          */
/*
 * What every codec of troupe uses (the envelope, the cluster's control frames, the
 * registers' and stock's bodies), and what a service can use for its own bodies. Nothing
 * here allocates; both sides work on a buffer the caller owns (borrowed for as long as the
 * writer or reader is used).
 *
 * Writer: tr_mp_writer over buf[0..cap). Each tr_mp_write_* writes one whole value or, when
 * it does not fit, nothing: it then sets `err` to TR_ETOOBIG, and every later write is a
 * no-op, so a sequence of writes is checked once at the end (`len` counts the bytes of the
 * values that fitted). Every value takes msgpack's smallest form, as msgpack-c writes it
 * (fixint, uint8..64 for values >= 0, int8..64 for negative ones; fixstr/str8/16/32;
 * bin8/16/32; fixarray/array16/32; fixmap/map16/32); floats are written as float64.
 * Encoders of a fixed layout may skip the per-value checks: tr_mp_writer_room gives room for
 * a known maximum, tr_mp_put_* write one value there without any check (same bytes as the
 * tr_mp_write_* calls) and tr_mp_writer_advance records what was written.
 *
 * Reader: tr_mp_reader over buf[0..len). Each tr_mp_read_* reads one value of its kind or
 * fails with TR_EPROTO: wrong kind, bytes missing, or a value out of range. A failure is
 * sticky: `err` is set, the reader is at the end, and every later read fails too, so a
 * decoder may check `err` once at the end. Every length is checked against the bytes left
 * before it is used, and a container header announcing more elements than bytes remain
 * (one byte per array element, two per map entry) is refused at once, so hostile input
 * costs nothing. Strings and binaries are returned as pointers into the buffer, not
 * NUL-terminated (tr_mp_read_str_copy copies one out). Ext values are skipped, not read.
 * Limits: containers and strings hold at most 2^32 - 1 elements or bytes (msgpack's own);
 * tr_mp_skip refuses values nested deeper than TR_MP_DEPTH_MAX containers.
 * Threading: none; a writer or reader is used by one thread at a time.
 */

/* Big-endian loads and stores of 16, 32 and 64 bits at any alignment. */
static inline uint16_t tr_load_be16(const void *p) {
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
static inline uint32_t tr_load_be32(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t tr_load_be64(const void *p) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline void tr_store_be16(void *p, uint16_t v) {
    v = __builtin_bswap16(v);
    __builtin_memcpy(p, &v, 2);
}
static inline void tr_store_be32(void *p, uint32_t v) {
    v = __builtin_bswap32(v);
    __builtin_memcpy(p, &v, 4);
}
static inline void tr_store_be64(void *p, uint64_t v) {
    v = __builtin_bswap64(v);
    __builtin_memcpy(p, &v, 8);
}

/* The most containers tr_mp_skip goes into: a value inside more is refused. */
#define TR_MP_DEPTH_MAX 8

typedef struct tr_mp_writer {
    uint8_t *buf; /* borrowed */
    size_t cap;
    size_t len; /* bytes written */
    int err;    /* 0, or TR_ETOOBIG once a value did not fit */
} tr_mp_writer;

void tr_mp_writer_init(tr_mp_writer *w, void *buf, size_t cap);
void tr_mp_write_nil(tr_mp_writer *w);
void tr_mp_write_bool(tr_mp_writer *w, bool v);
void tr_mp_write_int(tr_mp_writer *w, int64_t v);
void tr_mp_write_uint(tr_mp_writer *w, uint64_t v);
/* float64, as msgpack-c's msgpack_pack_double. */
void tr_mp_write_float(tr_mp_writer *w, double v);
/* s[0..n) (borrowed for the call); n <= UINT32_MAX. */
void tr_mp_write_str(tr_mp_writer *w, const char *s, size_t n);
/* A NUL-terminated string (inline: the length of a literal is known when compiling). */
static inline void tr_mp_write_cstr(tr_mp_writer *w, const char *s) {
    tr_mp_write_str(w, s, __builtin_strlen(s));
}
/* b[0..n) (borrowed for the call); n <= UINT32_MAX. */
void tr_mp_write_bin(tr_mp_writer *w, const void *b, size_t n);
/* A header; the caller then writes n elements (an array) or n key-value pairs (a map). */
void tr_mp_write_array(tr_mp_writer *w, uint32_t n);
void tr_mp_write_map(tr_mp_writer *w, uint32_t n);
/* n bytes of msgpack encoded in advance (a map header and its first key, say), copied as
 * they are: one check and one copy instead of a write per value. */
void tr_mp_write_raw(tr_mp_writer *w, const void *bytes, size_t n);
/* tr_mp_write_raw of a string literal's bytes (its NUL excluded). */
#define TR_MP_WRITE_LIT(w, lit) tr_mp_write_raw((w), "" lit, sizeof(lit) - 1)

/* Where up to `max` bytes may be written without checks, or NULL when fewer are left or
 * err is set (the encoder then falls back to the tr_mp_write_* calls, which handle a tight
 * buffer exactly). */
static inline uint8_t *tr_mp_writer_room(tr_mp_writer *w, size_t max) {
    return w->err == 0 && max <= w->cap - w->len ? w->buf + w->len : NULL;
}
/* Records the bytes written by tr_mp_put_* from tr_mp_writer_room's pointer up to end. */
static inline void tr_mp_writer_advance(tr_mp_writer *w, const uint8_t *end) {
    w->len = (size_t)(end - w->buf);
}

/* The tr_mp_put_* write one value at p without any check and return the byte after it.
 * A tag byte and `width` (1, 2, 4 or 8) big-endian bytes of v. */
static inline __attribute__((always_inline)) uint8_t *tr_mp_put_tagged(uint8_t *p, uint8_t tag,
                                                                       uint64_t v, int width) {
    p[0] = tag;
    switch (width) {
    case 1: p[1] = (uint8_t)v; break;
    case 2: tr_store_be16(p + 1, (uint16_t)v); break;
    case 4: tr_store_be32(p + 1, (uint32_t)v); break;
    default: tr_store_be64(p + 1, v); break;
    }
    return p + 1 + width;
}
/* At most 9 bytes. */
static inline __attribute__((always_inline)) uint8_t *tr_mp_put_uint(uint8_t *p, uint64_t v) {
    if (v < 128) {
        *p = (uint8_t)v;
        return p + 1;
    }
    if (v <= 0xff) {
        return tr_mp_put_tagged(p, 0xcc, v, 1);
    }
    if (v <= 0xffff) {
        return tr_mp_put_tagged(p, 0xcd, v, 2);
    }
    if (v <= 0xffffffffu) {
        return tr_mp_put_tagged(p, 0xce, v, 4);
    }
    return tr_mp_put_tagged(p, 0xcf, v, 8);
}
/* At most 9 bytes. */
static inline __attribute__((always_inline)) uint8_t *tr_mp_put_int(uint8_t *p, int64_t v) {
    if (v >= 0) {
        return tr_mp_put_uint(p, (uint64_t)v);
    }
    if (v >= -32) {
        *p = (uint8_t)(int8_t)v;
        return p + 1;
    }
    if (v >= INT8_MIN) {
        return tr_mp_put_tagged(p, 0xd0, (uint64_t)v, 1);
    }
    if (v >= INT16_MIN) {
        return tr_mp_put_tagged(p, 0xd1, (uint64_t)v, 2);
    }
    if (v >= INT32_MIN) {
        return tr_mp_put_tagged(p, 0xd2, (uint64_t)v, 4);
    }
    return tr_mp_put_tagged(p, 0xd3, (uint64_t)v, 8);
}
/* A str header for n bytes (at most 5 bytes); the caller copies the n bytes after it. */
static inline __attribute__((always_inline)) uint8_t *tr_mp_put_str_header(uint8_t *p, uint32_t n) {
    if (n < 32) {
        *p = (uint8_t)(0xa0 | n);
        return p + 1;
    }
    if (n <= 0xff) {
        return tr_mp_put_tagged(p, 0xd9, n, 1);
    }
    if (n <= 0xffff) {
        return tr_mp_put_tagged(p, 0xda, n, 2);
    }
    return tr_mp_put_tagged(p, 0xdb, n, 4);
}
/* A bin header for n bytes (at most 5 bytes); the caller copies the n bytes after it. */
static inline __attribute__((always_inline)) uint8_t *tr_mp_put_bin_header(uint8_t *p, uint32_t n) {
    if (n <= 0xff) {
        return tr_mp_put_tagged(p, 0xc4, n, 1);
    }
    if (n <= 0xffff) {
        return tr_mp_put_tagged(p, 0xc5, n, 2);
    }
    return tr_mp_put_tagged(p, 0xc6, n, 4);
}
/* The bytes of a string literal (its NUL excluded); returns the byte after them. */
#define TR_MP_PUT_LIT(p, lit) \
    ((uint8_t *)__builtin_memcpy((p), "" lit, sizeof(lit) - 1) + (sizeof(lit) - 1))

/* What the next value is (tr_mp_peek). */
typedef enum tr_mp_type {
    TR_MP_END = 0, /* no more bytes, or the reader failed */
    TR_MP_NIL,
    TR_MP_BOOL,
    TR_MP_INT, /* any integer form, signed or unsigned */
    TR_MP_FLOAT,
    TR_MP_STR,
    TR_MP_BIN,
    TR_MP_ARRAY,
    TR_MP_MAP,
    TR_MP_EXT,
    TR_MP_BAD /* the reserved byte 0xc1 */
} tr_mp_type;

typedef struct tr_mp_reader {
    const uint8_t *p;   /* the next byte (borrowed) */
    const uint8_t *end; /* one past the last */
    int err;            /* 0, or TR_EPROTO once a read failed */
} tr_mp_reader;

void tr_mp_reader_init(tr_mp_reader *r, const void *buf, size_t len);
/* The type of the next value, without reading it (only its first byte is looked at: the
 * value itself may still be truncated). */
tr_mp_type tr_mp_peek(const tr_mp_reader *r);
/* 0 when no read failed and every byte was read; TR_EPROTO otherwise. */
int tr_mp_reader_done(const tr_mp_reader *r);
/* Skips one value of any kind (its bytes are checked, its contents are not interpreted). */
int tr_mp_skip(tr_mp_reader *r);
int tr_mp_read_nil(tr_mp_reader *r);
int tr_mp_read_bool(tr_mp_reader *r, bool *v);
/* The unsigned forms only (positive fixint, uint8..64); a signed form is refused, even for
 * a value >= 0 (read those with tr_mp_read_int). */
int tr_mp_read_uint(tr_mp_reader *r, uint64_t *v);
/* float32 or float64. */
int tr_mp_read_float(tr_mp_reader *r, double *v);
/* b points into the buffer. */
int tr_mp_read_bin(tr_mp_reader *r, const uint8_t **b, uint32_t *n);
/* Copies a str of at most cap - 1 bytes into out and NUL-terminates it; a longer one, or one
 * holding a NUL byte, is TR_EPROTO. */
int tr_mp_read_str_copy(tr_mp_reader *r, char *out, size_t cap);
/* The out-of-line halves of the inline readers below: same contracts (call those). */
int tr_mp_read_map_any(tr_mp_reader *r, uint32_t *n);
int tr_mp_read_array_any(tr_mp_reader *r, uint32_t *n);
int tr_mp_read_str_any(tr_mp_reader *r, const char **s, uint32_t *n);
int tr_mp_read_int_any(tr_mp_reader *r, int64_t *v);

/* The bytes after the tag byte at r->p, or -1 when there is none (failed or at the end). */
static inline ptrdiff_t tr_mp_reader_left(const tr_mp_reader *r) {
    return r->err != 0 || r->p >= r->end ? -1 : r->end - r->p - 1;
}

/* A map header: *n entries follow. The inline part takes fixmap; the rest is out of line. */
static inline int tr_mp_read_map(tr_mp_reader *r, uint32_t *n) {
    ptrdiff_t left = tr_mp_reader_left(r);
    if (left >= 0 && (r->p[0] & 0xf0) == 0x80 && 2 * (r->p[0] & 0x0f) <= left) {
        *n = *r->p++ & 0x0f;
        return 0;
    }
    return tr_mp_read_map_any(r, n);
}
/* An array header: *n elements follow. */
static inline int tr_mp_read_array(tr_mp_reader *r, uint32_t *n) {
    ptrdiff_t left = tr_mp_reader_left(r);
    if (left >= 0 && (r->p[0] & 0xf0) == 0x90 && (r->p[0] & 0x0f) <= left) {
        *n = *r->p++ & 0x0f;
        return 0;
    }
    return tr_mp_read_array_any(r, n);
}
/* A str: *s points into the buffer, *n bytes, not NUL-terminated. */
static inline int tr_mp_read_str(tr_mp_reader *r, const char **s, uint32_t *n) {
    ptrdiff_t left = tr_mp_reader_left(r);
    if (left >= 0 && (r->p[0] & 0xe0) == 0xa0 && (r->p[0] & 0x1f) <= left) {
        *n = r->p[0] & 0x1f;
        *s = (const char *)r->p + 1;
        r->p += 1 + *n;
        return 0;
    }
    return tr_mp_read_str_any(r, s, n);
}
/* Any integer form holding a value that fits int64 (a uint64 above INT64_MAX is refused). */
static inline int tr_mp_read_int(tr_mp_reader *r, int64_t *v) {
    /* a positive (0x00..0x7f) or negative (0xe0..0xff) fixint: -32..127 as int8_t */
    if (tr_mp_reader_left(r) >= 0 && (int8_t)r->p[0] >= -32) {
        *v = (int8_t)*r->p++;
        return 0;
    }
    return tr_mp_read_int_any(r, v);
}
/* True when s[0..n) equals the NUL-terminated `lit` (inline: a literal's length and the
 * comparison fold when compiling). */
static inline bool tr_mp_str_eq(const char *s, uint32_t n, const char *lit) {
    size_t k = __builtin_strlen(lit);
    return k == n && __builtin_memcmp(s, lit, k) == 0;
}

/* True when msg answers a request of the receiving actor (it was sent with tr_reply or
 * tr_reply_durable): this tells a reply from a new request that happens to carry the same
 * correlation id, which another actor's counter may well have produced. */
bool tr_msg_is_reply(const tr_msg *msg);

/* ------------------------------------------------------------------------------------ */
/* Behaviours                                                                             */

typedef struct tr_ctx tr_ctx;   /* the running actor's handle; valid during callbacks only */
typedef struct tr_node tr_node; /* one node: actors, registry, store; owned by an engine */

enum {
    TR_CONTINUE = 0, /* receive: keep going */
    TR_STOP = 1      /* receive: stop normally (reason 0) */
    /* any negative TR_E code from init/receive: the actor failed with that reason */
};

typedef struct tr_behaviour {
    const char *name;  /* for logs and errors; borrowed, must outlive every actor using it */
    size_t state_size; /* the runtime allocates this many zeroed bytes as private state */
    /* Runs first, inside the new actor. arg is a private copy, valid during the call.
     * Return 0, or a negative TR_E code to fail (monitors and links are told). May be NULL. */
    int (*init)(tr_ctx *ctx, void *state, const void *arg, size_t arg_len);
    /* One message at a time. Return TR_CONTINUE, TR_STOP, or a negative TR_E to fail. */
    int (*receive)(tr_ctx *ctx, void *state, const tr_msg *msg);
    /* Runs once when the actor stops for any reason (0 = normal). May be NULL. */
    void (*terminate)(tr_ctx *ctx, void *state, int reason);
} tr_behaviour;

typedef enum tr_overflow {
    TR_OVERFLOW_REJECT = 0, /* the send returns TR_EFULL and nothing is queued */
    TR_OVERFLOW_DROP = 1    /* the send returns 0 and the message is a counted dead letter */
} tr_overflow;

typedef struct tr_spawn_opts {
    /* Registers the actor under this name on its node (copied). Durable state is keyed by
     * this name, so an actor that uses the store must have one; a restarted actor with the
     * same name sees the same state. NULL = anonymous. */
    const char *name;
    uint32_t mailbox_capacity; /* 0 = unbounded by count (senders are still muted, below) */
    tr_overflow overflow;      /* what a send to a full mailbox does */
    bool trap_exit;            /* linked exits arrive as TR_MSG_EXIT instead of stopping us */
} tr_spawn_opts;

/* ------------------------------------------------------------------------------------ */
/* Inside an actor (tr_ctx)                                                               */

tr_addr tr_self(const tr_ctx *ctx);
tr_node *tr_ctx_node(tr_ctx *ctx);
/* The engine's clock: monotonic per node (virtual and possibly skewed in the simulator). */
uint64_t tr_now_ns(tr_ctx *ctx);
uint64_t tr_now_ms(tr_ctx *ctx);
/* The engine's random numbers: seeded and per node in the simulator. */
uint64_t tr_random(tr_ctx *ctx);

/* Sends a copy of body[0..len) to `to`. Local or remote, the same call. Returns 0 (queued,
 * or counted as a dead letter if `to` is dead or unknown), TR_EFULL (bounded mailbox with
 * REJECT policy), TR_ETOOBIG (over the frame limit), TR_EINVAL. Never blocks. A sender that
 * floods a mailbox past the mute threshold is paused after its current callback until the
 * receiver catches up (Pony's muting), so mailboxes stay bounded. */
int tr_send(tr_ctx *ctx, tr_addr to, uint32_t type, const void *body, size_t len);
/* As tr_send with an explicit correlation id. */
int tr_send_corr(tr_ctx *ctx, tr_addr to, uint32_t type, uint64_t corr, const void *body,
                 size_t len);
/* Sends to a registered name: "inventory" (this node) or "inventory@n2" (node named n2). */
int tr_send_name(tr_ctx *ctx, const char *name, uint32_t type, const void *body, size_t len);
/* Sends a request with a fresh correlation id (*corr_out). Exactly one of these arrives
 * later as an ordinary message: the reply (same corr), or TR_MSG_TIMEOUT (same corr) after
 * timeout_ms. A reply arriving after its timeout is dropped. */
int tr_request(tr_ctx *ctx, tr_addr to, uint32_t type, const void *body, size_t len,
               uint32_t timeout_ms, uint64_t *corr_out);
int tr_request_name(tr_ctx *ctx, const char *name, uint32_t type, const void *body, size_t len,
                    uint32_t timeout_ms, uint64_t *corr_out);
/* Replies to a request: sends to req->from with req->corr. */
int tr_reply(tr_ctx *ctx, const tr_msg *req, uint32_t type, const void *body, size_t len);
/* As tr_reply, but held back until every store write this actor issued before the call is
 * durable (committed and synced); if the commit fails the reply is not sent. */
int tr_reply_durable(tr_ctx *ctx, const tr_msg *req, uint32_t type, const void *body, size_t len);
/* Hands req, the request this actor is handling (borrowed), to the actor registered as
 * `to_name` ("name" or "name@node"), keeping its type, body, sender, correlation id and trace:
 * the target's tr_reply answers the original requester, whose own timeout covers the whole
 * path; this actor keeps no record. A requester on a third node is relayed by the runtime
 * (the transport accepts a node's envelopes only from that node): the answer passes through
 * this node without reaching this actor (the relay is forgotten after 60 s; at most 1024
 * pending per actor). Returns 0 when sent (or counted as a dead letter); TR_EUNREACH at once,
 * nothing sent, when the target's node is unknown or its failure detector holds it down (the
 * node's first forward after it starts makes it watch every peer, nodes 1..64; a peer counts
 * as up until its first report); TR_EFULL (relays or a REJECT mailbox full); TR_EINVAL (not
 * a user request, a reply, a bad name). Forwarding in a cycle is not detected. */
int tr_forward(tr_ctx *ctx, const tr_msg *req, const char *to_name);

/* Spawns a child actor on this node. opts may be NULL. arg is copied. *out = its address. */
int tr_spawn(tr_ctx *ctx, const tr_behaviour *b, const tr_spawn_opts *opts, const void *arg,
             size_t arg_len, tr_addr *out);
/* Stops `target` (self allowed) with `reason` (0 normal, or a negative TR_E code). Messages
 * already queued to it become dead letters. Asynchronous for other actors. */
int tr_stop(tr_ctx *ctx, tr_addr target, int reason);

/* Links are bidirectional: when one side stops with a non-zero reason the other stops with
 * TR_ELINKED, unless it traps exits (then it gets TR_MSG_EXIT). Linking to a dead actor
 * behaves as if it had just stopped with TR_ENOPROC. */
int tr_link(tr_ctx *ctx, tr_addr other);
int tr_unlink(tr_ctx *ctx, tr_addr other);
void tr_trap_exit(tr_ctx *ctx, bool on);
/* Monitors are one-way: when `target` stops, we get TR_MSG_DOWN with corr = *ref_out.
 * Monitoring a dead or unknown actor gives TR_MSG_DOWN with reason TR_ENOPROC. Monitoring
 * an actor on another node also fires with TR_ENODEDOWN if that node goes down. */
int tr_monitor(tr_ctx *ctx, tr_addr target, uint64_t *ref_out);
int tr_demonitor(tr_ctx *ctx, uint64_t ref);
/* Asks for TR_MSG_NODE_DOWN / TR_MSG_NODE_UP about node `node_id` (cluster membership). */
int tr_monitor_node(tr_ctx *ctx, uint32_t node_id);

/* Timers fire as messages to self: type = `type`, corr = *timer_id_out, no body. A one-shot
 * timer has period_ms == 0. A stopped timer never delivers afterwards (tr_timer_stop). */
int tr_timer_start(tr_ctx *ctx, uint32_t delay_ms, uint32_t period_ms, uint32_t type,
                   uint64_t *timer_id_out);
int tr_timer_stop(tr_ctx *ctx, uint64_t timer_id);

/* The per-node registry. Names are copied; at most TR_NAME_MAX bytes. A name is removed
 * when its actor stops. */
#define TR_NAME_MAX 63
int tr_register(tr_ctx *ctx, const char *name, tr_addr who);
int tr_unregister(tr_ctx *ctx, const char *name);
int tr_lookup(tr_ctx *ctx, const char *name, tr_addr *out);

/* ------------------------------------------------------------------------------------ */
/* Durable state (LMDB underneath; only for actors spawned with a name)                   */
/*
 * Contract:
 *   - Writes (put/del/append/snapshot) are applied to the actor's view at once: a later get
 *     by the same actor sees them. They become durable later, in a group commit that batches
 *     the writes of all actors of the node into one transaction.
 *   - tr_durable_notify / tr_reply_durable tell the actor, or its caller, only after the
 *     commit holding every earlier write has been synced. Nothing else promises durability.
 *   - If the node crashes, a write that was not yet durable may be lost; a durable one is not.
 *   - Reads never wait for the writer.
 * Keys are at most TR_KEY_MAX bytes; values at most TR_VALUE_MAX bytes.
 */
#define TR_KEY_MAX 256
#define TR_VALUE_MAX (16u << 20)

/* Copies the value into buf[0..cap) and sets *len. TR_ENOENT if absent; TR_ETOOBIG (with
 * *len set to the needed size) if cap is too small. */
int tr_kv_get(tr_ctx *ctx, const void *key, size_t klen, void *buf, size_t cap, size_t *len);
int tr_kv_put(tr_ctx *ctx, const void *key, size_t klen, const void *val, size_t vlen);
int tr_kv_del(tr_ctx *ctx, const void *key, size_t klen);
/* Appends an event to the actor's journal; *seq_out (may be NULL) = its sequence (1, 2..). */
int tr_journal_append(tr_ctx *ctx, const void *event, size_t len, uint64_t *seq_out);
/* Stores a snapshot that covers the journal up to and including `seq`. */
int tr_snapshot_write(tr_ctx *ctx, uint64_t seq, const void *data, size_t len);
/* Compaction: drops the actor's journal events with seq <= upto_seq. Queued like a write: it
 * is durable in the same ordered group commit as the actor's other writes, never before an
 * earlier snapshot. TR_EINVAL if upto_seq is past the latest snapshot the actor sees (its own
 * pending one counts), so every dropped event is covered by a snapshot; 0 and nothing done for
 * 0 or a point not past an earlier truncation. Recovery replays the latest snapshot, then the
 * events after it, and sequences go on from the last one used, even with an empty journal.
 * A long truncation is done in steps of at most 16,384 events per commit; a step lost to a
 * crash is redone by the actor's next truncation. After it, a snapshot below upto_seq is
 * refused (TR_EINVAL) while the actor lives. Contract: docs/store.md. */
int tr_journal_truncate(tr_ctx *ctx, uint64_t upto_seq);
/* Replays the latest snapshot (if any, on_snapshot called once) and then every journal
 * event after it in order (on_event). Either callback may be NULL; a callback returning
 * non-zero stops the replay and that value is returned. Buffers are valid during the call. */
typedef int (*tr_snapshot_cb)(void *ud, uint64_t seq, const void *data, size_t len);
typedef int (*tr_event_cb)(void *ud, uint64_t seq, const void *event, size_t len);
int tr_recover(tr_ctx *ctx, tr_snapshot_cb on_snapshot, tr_event_cb on_event, void *ud);
/* When all writes issued so far by this actor are durable, TR_MSG_DURABLE arrives with
 * corr = *token_out and body = msgpack int 0 (or a TR_E code if the commit failed). */
int tr_durable_notify(tr_ctx *ctx, uint64_t *token_out);

/* ------------------------------------------------------------------------------------ */
/* Supervisors (OTP)                                                                      */

typedef enum tr_strategy {
    TR_ONE_FOR_ONE,
    TR_ONE_FOR_ALL,
    TR_REST_FOR_ONE
} tr_strategy;
typedef enum tr_restart {
    TR_PERMANENT, /* always restarted */
    TR_TRANSIENT, /* restarted only after a non-zero reason */
    TR_TEMPORARY  /* never restarted */
} tr_restart;

typedef struct tr_child_spec {
    const char *name; /* registered name of the child (recommended), or NULL */
    const tr_behaviour *behaviour;
    const void *arg;
    size_t arg_len;
    tr_restart restart;
    uint32_t mailbox_capacity;
    tr_overflow overflow;
} tr_child_spec;

typedef struct tr_sup_spec {
    tr_strategy strategy;
    uint32_t max_restarts; /* more than this many restarts within window_ms: give up */
    uint32_t window_ms;
    const tr_child_spec *children; /* started in order, stopped in reverse order */
    size_t child_count;
} tr_sup_spec;

#define TR_SUP_CHILDREN_MAX 1024  /* children per supervisor */
#define TR_SUP_RESTARTS_MAX 65535 /* largest max_restarts */

/* Spawns a supervisor (the spec is deep-copied; behaviours are borrowed). When the restart
 * intensity is exceeded it stops all children and stops itself with TR_ESHUTDOWN, which its
 * own supervisor, link or monitor sees (escalation). TR_EINVAL for a bad spec (unknown
 * strategy or restart type, a NULL behaviour, a name over TR_NAME_MAX, two children with the
 * same name, limits above). opts->trap_exit and opts->mailbox_capacity are ignored: a
 * supervisor monitors its children and must never lose their TR_MSG_DOWN.
 * Semantics (OTP's, made asynchronous):
 *   - children start in spec order in the supervisor's init; if one cannot be spawned, the
 *     ones started are stopped and the supervisor fails with that error;
 *   - children it stops are stopped one at a time, highest index first, each after the
 *     previous one is dead: with TR_EKILLED for a restart, TR_ESHUTDOWN when it gives up or
 *     fails, 0 when it is stopped normally. A new instance never starts before the old one
 *     (and every sibling being restarted) is dead;
 *   - one_for_all / rest_for_one count one restart per failure, whatever they restart; a
 *     temporary sibling they stop is not restarted; the deaths of instances the supervisor
 *     stopped itself never count as failures. */
int tr_spawn_supervisor(tr_ctx *ctx, const tr_sup_spec *spec, const tr_spawn_opts *opts,
                        tr_addr *out);
/* Children are found by their registered names (tr_lookup / tr_node_lookup): a restarted
 * child re-registers its name with its new address. */

/* A supervisor as a child of another (a supervision tree): fills *child so that the parent
 * runs a supervisor with `spec` (deep-copied here) under `name` (borrowed) and `restart`.
 * child->arg is owned by the caller: tr_child_spec_deinit(child) once the parent has been
 * spawned (spawning copies it). TR_EINVAL / TR_ETOOBIG / TR_ENOMEM as tr_spawn_supervisor. */
int tr_child_spec_supervisor_init(tr_child_spec *child, const char *name, tr_restart restart,
                                  const tr_sup_spec *spec);
void tr_child_spec_deinit(tr_child_spec *child);

/* ------------------------------------------------------------------------------------ */
/* Nodes (from outside any actor)                                                         */

uint32_t tr_node_id(const tr_node *node);
const char *tr_node_name(const tr_node *node);
int tr_node_spawn(tr_node *node, const tr_behaviour *b, const tr_spawn_opts *opts, const void *arg,
                  size_t arg_len, tr_addr *out);
int tr_node_spawn_supervisor(tr_node *node, const tr_sup_spec *spec, const tr_spawn_opts *opts,
                             tr_addr *out);
/* Sends from outside (from = {node, 0}). */
int tr_node_send(tr_node *node, tr_addr to, uint32_t type, const void *body, size_t len);
int tr_node_send_corr(tr_node *node, tr_addr to, uint32_t type, uint64_t corr, const void *body,
                      size_t len);
int tr_node_stop(tr_node *node, tr_addr target, int reason);
int tr_node_lookup(tr_node *node, const char *name, tr_addr *out);
bool tr_node_actor_is_alive(tr_node *node, tr_addr who);

typedef struct tr_stats {
    uint64_t actors_live;
    uint64_t actors_spawned;
    uint64_t messages_delivered;
    uint64_t dead_letters;
    uint64_t mailbox_rejects; /* sends refused with TR_EFULL */
    uint64_t mutes;           /* times a sender was muted */
    uint64_t restarts;        /* children restarted by supervisors */
    uint64_t store_commits;
    uint64_t store_writes;
} tr_stats;
void tr_node_stats_get(tr_node *node, tr_stats *out);

/* ------------------------------------------------------------------------------------ */
/* The real engine: worker threads, libuv, LMDB on disk                                   */

typedef struct tr_runtime tr_runtime;

typedef struct tr_config {
    uint32_t node_id;            /* 1.. ; 0 means 1 */
    const char *node_name;       /* default "n<id>" */
    uint32_t workers;            /* 0 = one per core */
    uint32_t batch;              /* messages per activation; 0 = 100 */
    uint32_t mute_threshold;     /* queued messages above which senders are muted; 0 = 4096 */
    const char *data_dir;        /* LMDB directory; NULL = a fresh temporary one under $TMPDIR
                                    (or /tmp), removed by tr_runtime_destroy */
    uint64_t map_size;           /* initial LMDB map size; 0 = 64 MiB; grows when full */
    uint32_t commit_interval_us; /* group-commit linger; 0 = commit as soon as the writer is free */
    bool no_store;               /* no store at all (a client process; data_dir must be NULL): the
                                    durable state calls return TR_ENOTSUP */
    int32_t spin_us;             /* how long an idle worker polls for work before it sleeps, at
                                    most (the budget adapts: docs/runtime-core.md); 0 = 50,
                                    negative = never (sleep at once: a machine shared with
                                    other busy processes, or a CPU quota) */
} tr_config;

/* Starts the engine (workers, I/O loop, store writer). *out is owned: tr_runtime_destroy. */
int tr_runtime_create(const tr_config *cfg, tr_runtime **out);
tr_node *tr_runtime_node(tr_runtime *rt);
/* Stops every actor (terminate callbacks run), flushes the store, joins all threads. */
void tr_runtime_destroy(tr_runtime *rt);

/* An inbox lets a plain thread (a test, main(), a CLI) talk with actors: it has an address,
 * and tr_inbox_receive blocks the calling thread (never a worker) for the next message. */
typedef struct tr_inbox tr_inbox;
int tr_inbox_create(tr_runtime *rt, tr_inbox **out);
tr_addr tr_inbox_addr(const tr_inbox *inbox);
/* *out is owned by the caller: free with tr_msg_free. TR_ETIMEDOUT after timeout_ms. */
int tr_inbox_receive(tr_inbox *inbox, uint32_t timeout_ms, tr_msg **out);
/* A request/reply from a plain thread: sends a request from the inbox, as tr_request does
 * from an actor, and blocks the calling thread until the answer. to_name NULL: the request
 * goes to the address `to`; else to the actor registered as to_name on node to.node (to.actor
 * is ignored; a client knows a node by its id, e.g. from tr_cluster_wait_peer). 0 with
 * *reply_out the reply (owned: tr_msg_free); TR_ETIMEDOUT when no reply came within
 * timeout_ms (a later one is dropped); TR_EBUSY if another thread's request on this inbox is
 * waiting; TR_EINVAL, or the send's error. Other messages arriving meanwhile stay queued for
 * tr_inbox_receive. body (borrowed) is copied before the call returns. */
int tr_inbox_request(tr_inbox *inbox, tr_addr to, const char *to_name, uint32_t type,
                     const void *body, size_t len, uint32_t timeout_ms, tr_msg **reply_out);
void tr_inbox_destroy(tr_inbox *inbox);
void tr_msg_free(tr_msg *msg);

/* ------------------------------------------------------------------------------------ */
/* The sim engine: N simulated nodes in one thread, virtual time, faults (sim/)           */
/* (section owned by sim/; see docs/simulation.md)
 *
 * A tr_sim runs N nodes (index 0..N-1, node id = index + 1, name "n<id>") in the calling
 * thread, in virtual time. Nothing happens between calls: time advances only inside
 * tr_sim_run_for / tr_sim_run_until / tr_sim_step. Every node has its own actors, registry
 * and (optionally) LMDB store on tmpfs; remote sends go through the wire codec onto
 * simulated links. A run is a pure function of (config, the calls made on the sim, code):
 * tr_sim_trace_hash() is the same for the same seed and calls, on any machine.
 *
 * Threading: a tr_sim and its nodes are used from one thread only. tr_node functions
 * (tr_node_send, tr_node_spawn, tr_node_lookup, ...) work on tr_sim_node() nodes; they take
 * effect in virtual time (a send is processed by the next run call).
 *
 * Costs in virtual time (documented so that tests can reason about them): each message an
 * actor processes costs msg_cost_ns of its node's single simulated CPU; a store commit takes
 * commit_latency_ns; a remote message takes link_delay_min_ns + a random part.
 */

typedef struct tr_sim tr_sim;

#define TR_SIM_NODES_MAX 64
#define TR_SIM_ANY UINT32_MAX /* "every node" in link functions */

typedef enum tr_sim_delay_dist {
    TR_SIM_DELAY_UNIFORM = 0,     /* min + uniform [0, 2 * mean) */
    TR_SIM_DELAY_EXPONENTIAL = 1, /* min + exponential with that mean (capped at 20 * mean) */
    TR_SIM_DELAY_FIXED = 2        /* min exactly */
} tr_sim_delay_dist;

/* How the simulated nodes reach each other (docs/simulation.md, "Network modes"). */
typedef enum tr_sim_net {
    TR_SIM_NET_ORACLE = 0,  /* opt-in: a message network and a perfect failure detector with a
                               delay (failure_detect_ns): fast, for services that do not care
                               how failures are detected */
    TR_SIM_NET_PROTOCOL = 1 /* the default: the cluster protocol core of a real node (framing,
                               handshake, heartbeats, phi accrual, gossip, reconnect backoff)
                               over simulated TCP byte streams: NODE_DOWN/UP come from phi, so
                               pauses, clock faults and delay spikes cause false suspicions */
} tr_sim_net;

/* Runs on a fresh node at tr_sim_create and after every tr_sim_restart: spawn the node's
 * actors here (they recover their durable state from the store). Return 0 or a TR_E code
 * (tr_sim_create / tr_sim_restart then fail with it). `node` is borrowed. */
typedef int (*tr_sim_boot_fn)(tr_node *node, void *ud);

typedef struct tr_sim_config {
    uint64_t seed;
    uint32_t nodes;              /* 1..TR_SIM_NODES_MAX */
    uint64_t link_delay_min_ns;  /* every remote message takes at least this */
    uint64_t link_delay_mean_ns; /* mean of the random part added to the minimum */
    tr_sim_delay_dist delay_dist;
    double loss_prob;           /* opt-in: each remote message is lost with this probability */
    double dup_prob;            /* opt-in: ... delivered twice */
    double reorder_prob;        /* opt-in: ... may overtake earlier ones on its link */
    uint64_t msg_cost_ns;       /* virtual CPU per processed message */
    uint64_t commit_latency_ns; /* a group commit completes this long after store_ready */
    uint64_t failure_detect_ns; /* TR_SIM_NET_ORACLE: NODE_DOWN/UP reach watchers this long
                                   after the fact */
    bool store;                 /* open an LMDB store per node (tmpfs, no sync) */
    const char *store_base;     /* parent of the store directories; NULL = "/dev/shm" */
    uint32_t batch;             /* per-activation batch; 0 = runtime default */
    uint32_t mute_threshold;    /* 0 = runtime default */
    tr_sim_boot_fn boot;        /* may be NULL (then nodes start empty) */
    void *boot_ud;              /* borrowed; must outlive the sim */
    uint64_t record_events_max; /* check-determinism mode: per-event hashes kept; 0 = 1M */
    bool check_nodes;      /* after every event, walk the runtime invariants of the event's node
                         and abort (printing seed and event) on a broken one; for tests: it
                         costs a walk of the node per event */
    tr_sim_net net;        /* default TR_SIM_NET_PROTOCOL */
    uint32_t heartbeat_ms; /* TR_SIM_NET_PROTOCOL: as a real node's; 0 = 500 */
    uint32_t fd_down_ms;   /* ... hard bound of the detector; 0 = 3000 */
    bool buggify; /* fault points (TR_BUGGIFY, "Fault points" below) may fire; off by default */
} tr_sim_config;

/* Fills *cfg with the defaults: seed 1, 3 nodes, delay 100 us + uniform mean 400 us, no loss,
 * dup or reorder, 1 us per message, 1 ms commits, store on, the protocol network
 * (TR_SIM_NET_PROTOCOL; failure_detect_ns 5 ms applies to TR_SIM_NET_ORACLE). */
void tr_sim_config_init(tr_sim_config *cfg);

/* Creates the nodes (ids 1..N), opens their stores and runs boot on each, in index order,
 * at virtual time 0. cfg is copied (boot_ud and store_base stay borrowed). *out is owned:
 * tr_sim_destroy. TR_EINVAL for a bad config; store errors as the store reports them. */
int tr_sim_create(const tr_sim_config *cfg, tr_sim **out);
/* Stops every actor (terminate callbacks run), closes and removes the store directories,
 * frees everything. Pending events are discarded. */
void tr_sim_destroy(tr_sim *sim);

uint32_t tr_sim_node_count(const tr_sim *sim);
/* Node at index i (0-based; id i + 1). Valid until tr_sim_destroy, also across crash and
 * restart (the same tr_node is reused; its actors are new after a restart). */
tr_node *tr_sim_node(tr_sim *sim, uint32_t i);
/* The true virtual time, and node i's local clock (skewed/drifted; what tr_now_ns sees). */
uint64_t tr_sim_now_ns(const tr_sim *sim);
uint64_t tr_sim_node_now_ns(tr_sim *sim, uint32_t i);
uint64_t tr_sim_seed(const tr_sim *sim);

/* Runs every event due up to now + ns, then sets now to that time. */
void tr_sim_run_for(tr_sim *sim, uint64_t ns);
/* Runs events until pred(sim, ud) is true (checked before the first event and after each
 * one) or the next event is later than deadline_ns (absolute virtual time; now then becomes
 * deadline_ns). 0 if pred held, TR_ETIMEDOUT otherwise. */
int tr_sim_run_until(tr_sim *sim, bool (*pred)(tr_sim *sim, void *ud), void *ud,
                     uint64_t deadline_ns);
/* Runs the next event, if any (now jumps to its time). Returns false if the queue is empty. */
bool tr_sim_step(tr_sim *sim);
/* Schedules fn(sim, ud) at virtual time at_ns (now if earlier): the nemesis schedule and the
 * workload clients use it. fn may call anything on the sim except tr_sim_destroy. */
int tr_sim_at(tr_sim *sim, uint64_t at_ns, void (*fn)(tr_sim *sim, void *ud), void *ud);
/* A blocking request from the caller, the simulated counterpart of tr_inbox_request: a hidden
 * client actor on node node_index sends the request (body, borrowed, is copied) to the actor
 * registered as to_name ("name" on that node, "name@n2" on another), and the simulation runs
 * until the reply arrives or timeout_ns of virtual time have passed (the client's own request
 * timer, in its node's local clock, may also end the wait). 0 with *reply_out the reply
 * (owned: tr_msg_free); TR_ETIMEDOUT (no reply in time: the target crashed, is partitioned
 * away, paused or slow; a later reply is a dead letter); TR_ECLOSED (node node_index is down,
 * or crashed during the wait); TR_EINVAL (bad index, NULL name, timeout_ns 0); TR_EBUSY (a
 * request is already waiting: called from inside the simulation); or the send's error.
 * Deterministic: the same seed and calls give the same trace. */
int tr_sim_request(tr_sim *sim, uint32_t node_index, const char *to_name, uint32_t type,
                   const void *body, size_t len, uint64_t timeout_ns, tr_msg **reply_out);

/* The trace hash: 64 bits over every event processed (its time, kind and node; the actor's
 * address and processed-message count for runs; owner and id for timers; the encoded
 * envelope for remote deliveries) and every message received by an actor, local or remote
 * (node, from, to, type, corr, body). Printed as "trace-hash: %016llx". */
uint64_t tr_sim_trace_hash(const tr_sim *sim);

/* ---- Seeded random streams: independent per purpose, derived from (seed, stream) ---- */
typedef struct tr_sim_rng {
    uint64_t s[4];
} tr_sim_rng;
/* Stream ids below TR_SIM_STREAM_USER belong to the engine (nodes, links, nemesis). */
#define TR_SIM_STREAM_USER 0x100000000ull
void tr_sim_rng_init(tr_sim_rng *rng, uint64_t seed, uint64_t stream);
uint64_t tr_sim_rng_next(tr_sim_rng *rng);
uint64_t tr_sim_rng_below(tr_sim_rng *rng, uint64_t n); /* uniform in [0, n); n > 0 */
double tr_sim_rng_unit(tr_sim_rng *rng);                /* uniform in [0, 1) */
/* tr_sim_rng_init(rng, tr_sim_seed(sim), TR_SIM_STREAM_USER + k): a client's own stream. */
void tr_sim_rng_stream(const tr_sim *sim, uint64_t stream, tr_sim_rng *rng);

/* ---- Nemesis: faults. Each returns 0 when the fault took effect (and counts it), or
 * TR_EINVAL (bad index), TR_ECLOSED (node already down), TR_EBUSY (node already up). ---- */
typedef enum tr_sim_fault {
    TR_SIM_FAULT_PARTITION, /* a partition was applied (any shape) */
    TR_SIM_FAULT_LINK_CUT,  /* a single directed link was cut (one-way partitions) */
    TR_SIM_FAULT_HEAL,      /* every link restored */
    TR_SIM_FAULT_CRASH,
    TR_SIM_FAULT_RESTART,
    TR_SIM_FAULT_PAUSE,
    TR_SIM_FAULT_RESUME,
    TR_SIM_FAULT_CLOCK_SKEW,
    TR_SIM_FAULT_CLOCK_DRIFT,
    TR_SIM_FAULT_CLOCK_JUMP,
    TR_SIM_FAULT_DELAY_SPIKE,
    TR_SIM_FAULT_LOSS,          /* one message lost by the loss probability */
    TR_SIM_FAULT_DUP,           /* one message duplicated */
    TR_SIM_FAULT_REORDER,       /* one message allowed to overtake */
    TR_SIM_FAULT_IO_ERROR,      /* a disk began failing commits with TR_EIO */
    TR_SIM_FAULT_DISK_FULL,     /* ... with TR_ENOSPC */
    TR_SIM_FAULT_SLOW_DISK,     /* a disk's commits began taking longer */
    TR_SIM_FAULT_CORRUPT,       /* a node's data file was torn */
    TR_SIM_FAULT_COMMIT_FAILED, /* one commit failed (its writes were refused) */
    TR_SIM_FAULT_START_REFUSED, /* one restart refused: the store would not open */
    TR_SIM_FAULT_COUNT
} tr_sim_fault;
const char *tr_sim_fault_name(tr_sim_fault f); /* "partition", "crash", ... */

/* Partitions. A cut link drops everything in flight on it and everything sent later until
 * it is restored. Shapes cut both directions between the two sides, except one-way. */
int tr_sim_partition(tr_sim *sim, uint64_t side_mask); /* bit i set = node i on side A */
int tr_sim_isolate(tr_sim *sim, uint32_t i);           /* node i alone on side A */
int tr_sim_partition_halves(tr_sim *sim);              /* random minority (n/2 nodes) vs majority */
int tr_sim_partition_ring(tr_sim *sim);   /* random ring: each node sees a majority, all
                                              majorities differ (Jepsen's majorities-ring) */
int tr_sim_partition_bridge(tr_sim *sim); /* two random halves joined only by one node */
int tr_sim_link_cut(tr_sim *sim, uint32_t from, uint32_t to); /* one-way: from -> to dropped;
                                                               TR_SIM_ANY allowed */
int tr_sim_heal(tr_sim *sim);
bool tr_sim_link_is_up(const tr_sim *sim, uint32_t from, uint32_t to);

/* Crash: every actor of node i vanishes without terminate callbacks, mailboxes, timers and
 * uncommitted store writes are lost, links to and from it drop what is in flight; committed
 * store data survives. Messages to a crashed node are dropped. Restart re-runs boot. */
int tr_sim_crash(tr_sim *sim, uint32_t i);
int tr_sim_restart(tr_sim *sim, uint32_t i);
bool tr_sim_node_is_up(const tr_sim *sim, uint32_t i);
/* Pause (a stopped process / long GC): node i processes nothing (no actor runs, timers,
 * deliveries or commits) until resumed; what arrived meanwhile is processed then, in order. */
int tr_sim_pause(tr_sim *sim, uint32_t i);
int tr_sim_resume(tr_sim *sim, uint32_t i);
/* Clocks: node i's local clock = true time + offset + drift since set. The local clock
 * never runs backwards: after a backward skew/jump it stands still until it catches up.
 * Timers armed by node i are in its local time (a forward jump makes them fire sooner). */
int tr_sim_clock_skew(tr_sim *sim, uint32_t i, int64_t offset_ns); /* set the offset */
int tr_sim_clock_jump(tr_sim *sim, uint32_t i, int64_t delta_ns);  /* add to the offset */
int tr_sim_clock_drift(tr_sim *sim, uint32_t i, int32_t ppm);      /* |ppm| <= 500000 */
/* Adds extra_ns to every message sent on from -> to (TR_SIM_ANY allowed) for duration_ns. */
int tr_sim_delay_spike(tr_sim *sim, uint32_t from, uint32_t to, uint64_t extra_ns,
                       uint64_t duration_ns);

typedef struct tr_sim_stats {
    uint64_t events; /* events processed */
    uint64_t actor_runs;
    uint64_t messages_processed; /* messages handled by actors, all nodes (tr_node_stats_get) */
    uint64_t messages_traced;    /* messages hashed into the trace as they were received
                                    (a remote one is in it through its envelope) */
    uint64_t remote_sent;        /* messages put on a link */
    uint64_t remote_delivered;   /* messages taken off a link into a node */
    uint64_t dropped_cut;        /* sent on a cut link, or in flight on a link that broke
                                    (a cut, or a crash of either end) */
    uint64_t dropped_down;       /* sent to a crashed node, or due at a node that crashed */
    uint64_t timers_fired;
    uint64_t timers_cancelled; /* withdrawn before they were due (a reply beat its
                                    request's timeout): dropped, not events, not traced */
    uint64_t store_commits;
    uint64_t faults[TR_SIM_FAULT_COUNT]; /* faults that actually fired, by kind */
    uint64_t buggify_checked;            /* TR_BUGGIFY evaluations (with buggify on) */
    uint64_t buggify_fired;              /* ... of which answered true */
} tr_sim_stats;
void tr_sim_stats_get(tr_sim *sim, tr_sim_stats *out);

/* Under TR_SIM_NET_PROTOCOL, what the cluster protocol did, all nodes together. */
typedef struct tr_sim_net_stats {
    uint64_t dials;           /* connections attempted */
    uint64_t refused;         /* closed in the handshake or at admission (identity rules) */
    uint64_t protocol_errors; /* malformed or unexpected input, failed handshakes */
    uint64_t suspicions;      /* SUSPECT verdicts of the phi detectors (logged only) */
    uint64_t downs, ups;      /* DOWN and UP verdicts: what monitors hear */
} tr_sim_net_stats;
/* 0, or TR_EINVAL under TR_SIM_NET_ORACLE (there is no protocol to count). */
int tr_sim_net_stats_get(const tr_sim *sim, tr_sim_net_stats *out);

/* ---- Check-determinism mode ----
 * Runs scenario(sim, ud) on two sims created from cfg, the first recording per-event hashes
 * (up to cfg->record_events_max), the second comparing against them. out->diverged tells
 * whether the runs differ; if so, out->event_index is the first differing event and
 * out->what describes it in both runs. The scenario must drive the sim it is given (run,
 * faults, sends) and not destroy it. Returns 0 (whatever the verdict) or an error from
 * tr_sim_create. */
typedef struct tr_sim_divergence {
    bool diverged;
    uint64_t event_index; /* 0-based index of the first differing event */
    uint64_t time_ns;     /* its virtual time in the second run */
    uint64_t hash_first;  /* trace hashes of the two runs */
    uint64_t hash_second;
    char what[256];
} tr_sim_divergence;
int tr_sim_check_determinism(const tr_sim_config *cfg, void (*scenario)(tr_sim *sim, void *ud),
                             void *ud, tr_sim_divergence *out);

/* ---- Storage faults (sim/nemesis.c; counted in tr_sim_stats.faults like the others) ----
 * A commit on a failing disk fails as an LMDB write fails on a real node: the replies held
 * for it (tr_reply_durable) are dropped, its TR_MSG_DURABLE notifications carry the error,
 * and the node's store is failed: every later write, notification and durable reply of the
 * node returns that error until the node restarts (tr_sim_restart opens its store again).
 * Each counts one TR_SIM_FAULT_COMMIT_FAILED. Without a store (cfg.store false) these
 * return TR_ENOTSUP; TR_EINVAL for a bad index or argument. */
/* From now on commits of node i fail with err: TR_EIO (an I/O error) or TR_ENOSPC (a full
 * disk), until tr_sim_disk_repair. The disk stays bad across crashes and restarts. */
int tr_sim_disk_fail(tr_sim *sim, uint32_t i, int err);
/* Commits of node i work again (a store that failed stays failed until a restart). */
int tr_sim_disk_repair(tr_sim *sim, uint32_t i);
/* Every commit of node i takes extra_ns longer (0: normal again). */
int tr_sim_disk_slow(tr_sim *sim, uint32_t i, uint64_t extra_ns);
/* Node i crashes (if it is up) with its data file torn: the file loses its last page. Every
 * later tr_sim_restart finds it through the store's own open checks and returns
 * TR_ECORRUPT (counted as TR_SIM_FAULT_START_REFUSED): the node stays down. TR_EBUSY if the
 * file is torn already. */
int tr_sim_disk_corrupt(tr_sim *sim, uint32_t i);
/* 0, or the error node i's store failed with (a commit, or its last open). */
int tr_sim_store_failure(const tr_sim *sim, uint32_t i);

/* ------------------------------------------------------------------------------------ */
/* The cluster: TCP transport between real nodes (cluster/)                               */
/* (section owned by cluster/; see docs/wire-protocol.md) */
/*
 * A real node joins a cluster by starting a tr_cluster on its runtime: one TCP connection
 * per node pair, frames of a 4-byte big-endian length and a msgpack envelope, a handshake
 * that mutually authenticates with a shared secret (HMAC-SHA256 over fresh nonces), seed
 * nodes + gossip for membership, heartbeats and a phi-accrual failure detector. Remote sends
 * (tr_send to an address on another node, tr_send_name("x@n2")) then go over TCP; a node
 * going down or up reaches monitors as TR_MSG_DOWN (TR_ENODEDOWN) / TR_MSG_NODE_DOWN/UP.
 * Every authenticated peer is trusted like a local actor (it holds the secret).
 * A send to an unknown or down node, or to a node whose outbound queue is at its bound,
 * fails fast and is counted as a dead letter. Bad input from a peer closes that connection
 * with a logged reason (structured key=value lines on stderr) and never harms the node.
 */
typedef struct tr_cluster tr_cluster;

typedef struct tr_cluster_config {
    const char *cluster;   /* cluster name; peers of another cluster are refused; "troupe" */
    const char *listen;    /* "host:port" to accept peers on; NULL = none (a client) */
    const char *advertise; /* "host:port" peers dial to reach this node; NULL = listen
                                (needed when listening on 0.0.0.0 or [::]) */
    const char *seeds;     /* "host:port,host:port" dialled to join; NULL = none. A host
                                is an IPv4 address, [an IPv6 address] or a name, resolved
                                without blocking whenever it is dialled (and retried if it
                                does not resolve); see docs/wire-protocol.md */
    const void *secret;    /* shared secret (copied), at least 16 bytes */
    size_t secret_len;
    bool client;                   /* announce as a client: not a member, never gossiped */
    uint32_t frame_max;            /* largest frame payload accepted or sent; 0 = 1 MiB */
    uint32_t peer_queue_bytes;     /* outbound bound per peer; 0 = 4 MiB */
    uint32_t peer_queue_count;     /* outbound bound per peer; 0 = 65536 messages */
    uint32_t handshake_timeout_ms; /* 0 = 5000 */
    uint32_t heartbeat_ms;         /* 0 = 500 */
    uint32_t down_ms;              /* silence after which a node is down at the latest; 0 = 3000 */
    double phi_suspect;            /* phi-accrual failure detector (docs/wire-protocol.md 6): a */
    double phi_down;               /* node is suspect / down at phi >= these; 0 = 5 and 8 */
    uint32_t write_stall_ms;       /* a peer not reading this long is dropped; 0 = 5000 */
    int32_t spin_us;               /* the I/O loop polls this long after activity before it
                                sleeps; 0 = 50, negative = never */
    bool quiet;                    /* log warnings and errors only (a command-line client) */
    uint32_t client_idle_ms;  /* a client that sends no message this long is closed; 0 = 60000 */
    uint32_t client_frame_ms; /* a client that leaves a frame incomplete this long is closed;
                                 0 = 10000 */
    /* Mutual TLS (docs/tls.md): PEM files of this node's certificate chain, its private key
     * and the CA bundle peers are verified against (borrowed during tr_cluster_create; the
     * paths are kept for reloads). All three or none (NULL: plain TCP). With them, TLS 1.3
     * carries every connection, both ends present certificates, a peer's name is its
     * certificate's subject CN, and the secret becomes optional (NULL / 0). A node reloads
     * the files on SIGHUP for new connections. */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_ca;
} tr_cluster_config;

/* Creates the transport, starts it on rt's I/O loop (listens, dials the seeds) and plugs it
 * into rt. The node's id and name (tr_config) are its identity in the cluster. *out is
 * owned: tr_cluster_stop, then tr_runtime_destroy, then tr_cluster_destroy. TR_EINVAL (bad
 * config), TR_EBUSY (address in use), TR_EIO. Sets SIGPIPE to ignored if it had its default
 * action (a peer resetting a connection must not kill the process). */
int tr_cluster_create(tr_runtime *rt, const tr_cluster_config *cfg, tr_cluster **out);
/* The port the node listens on (useful with port 0), or 0. */
int tr_cluster_port(const tr_cluster *c);
/* Waits up to timeout_ms until a link to some member is up; *id_out = its id (the first one).
 * For clients that dialled one seed. TR_ETIMEDOUT; and, for a client (cfg->client), as soon
 * as it happens while no link is up, TR_EAUTH when a seed refused the handshake (wrong
 * secret or cluster name) or TR_EUNREACH when a seed's host name did not resolve or nothing
 * accepted the connection on any of its addresses (connection refused): a client
 * then gives up at once rather than wait for a retry that would fail the same way. Any
 * non-worker thread. */
int tr_cluster_wait_peer(tr_cluster *c, uint32_t timeout_ms, uint32_t *id_out);
/* Why tr_cluster_wait_peer failed with TR_EAUTH or TR_EUNREACH, as one sentence ("refused by
 * the node: ...", "cannot resolve HOST:PORT: ...", "cannot connect to HOST:PORT: ..."),
 * NUL-terminated in why[0..why_cap); ""
 * if nothing failed. Any thread. */
void tr_cluster_peer_error(tr_cluster *c, char *why, size_t why_cap);
/* Drains: refuses new remote sends (dead letters from then on), lets what is already queued
 * be written for up to 1 s, then says BYE to the peers and closes every connection; blocks
 * until done. Idempotent. If not called, tr_runtime_destroy closes without draining. */
void tr_cluster_stop(tr_cluster *c);
/* Frees c; only after tr_runtime_destroy(rt). */
void tr_cluster_destroy(tr_cluster *c);
/* The node id `troupe node --name NAME` uses: "n<k>" gives k (1..2^31-1); any other name a
 * 31-bit FNV-1a hash of it (never 0). Ids from 2^31 up are left for clients. */
uint32_t tr_cluster_node_id(const char *name);

/* ------------------------------------------------------------------------------------ */
/* Histories: what simulated (or real) clients did, in Jepsen's shape                    */
/* ------------------------------------------------------------------------------------ */
/* A history is a sequence of operations with Jepsen's fields. Each client operation appears
 * twice: an invoke when it is sent and a completion (ok, fail or info) when its outcome is
 * known. ok = took effect (a read: returned the value); fail = certainly did not take
 * effect; info = unknown (timed out, node crashed): it may take effect at any time after its
 * invoke, or never. An operation has a name `f` (any string: "read", "write", "cas",
 * "deposit"...), a key (0 when the service has one object) and a value: nil, an integer,
 * a pair of them (cas: expected, new), or any tr_value (a string, a tuple...). A process
 * has one operation outstanding at a time; a process whose operation ended in info is
 * retired and never invokes again. Times are virtual
 * nanoseconds in a simulation. Limits: TR_HISTORY_OPS_MAX operations, TR_HISTORY_F_MAX
 * distinct operation names (read, write, cas, reserve and restock among them), names of at
 * most TR_HISTORY_NAME_MAX bytes: a letter, then letters, digits or -_.!?*+.
 * Threading: one thread at a time. Ownership: tr_history_create returns an owned history
 * (tr_history_destroy); in a tr_history_op from tr_history_get, f is valid until the history
 * is destroyed and error until the next tr_history_append or tr_history_destroy; any (a view
 * of the value) is valid until the history is destroyed. */
typedef struct tr_history tr_history;

/* A value of any kind, as an operation's value (tr_history_op.any). nil, an integer and a
 * pair of integers also fit the fast fields (has_value, pair, value, value_to), which the
 * built-in workloads and register checker use; the other kinds live in the history:
 *   - STRING: len bytes of UTF-8 (no NUL byte; bytes is NUL-terminated too);
 *   - KEYWORD: a letter, then letters, digits or -_.!?*+/, at most TR_HISTORY_NAME_MAX bytes
 *     (:ok in EDN);
 *   - BYTES: len opaque bytes, e.g. a msgpack body; exported as base64 (see below);
 *   - TUPLE: len values in items (Jepsen's vectors), nested at most TR_VALUE_DEPTH_MAX deep.
 * Limits: a string or bytes of at most TR_VALUE_BYTES_MAX bytes; a whole value (its items
 * at sizeof(tr_value) each, plus its bytes) of at most TR_VALUE_SIZE_MAX; the distinct values
 * of one history at most TR_HISTORY_VALUES_MAX bytes (then an append is TR_EFULL).
 * Ownership: a value given to tr_history_append is borrowed and copied; one read back is a
 * view into the history, valid until it is destroyed. The history interns values: equal
 * values share one view, so a model may keep a view's address in its state. */
typedef enum tr_value_kind {
    TR_VALUE_NIL = 0,
    TR_VALUE_INT = 1,
    TR_VALUE_STRING = 2,
    TR_VALUE_KEYWORD = 3,
    TR_VALUE_BYTES = 4,
    TR_VALUE_TUPLE = 5
} tr_value_kind;

typedef struct tr_value {
    tr_value_kind kind;
    int64_t i;                    /* INT */
    const char *bytes;            /* STRING, KEYWORD, BYTES: len bytes (borrowed or a view) */
    size_t len;                   /* bytes; TUPLE: the number of items */
    const struct tr_value *items; /* TUPLE: len values (borrowed or a view) */
} tr_value;

#define TR_VALUE_DEPTH_MAX 16
#define TR_VALUE_BYTES_MAX (64u * 1024u)
#define TR_VALUE_SIZE_MAX (1024u * 1024u)
#define TR_HISTORY_VALUES_MAX (256u * 1024u * 1024u)

/* True if a and b are the same value (kind and contents, items compared in order). */
bool tr_value_equal(const tr_value *a, const tr_value *b);

#define TR_HISTORY_OPS_MAX (64u * 1024u * 1024u)
#define TR_HISTORY_F_MAX 64
#define TR_HISTORY_NAME_MAX 31

typedef enum tr_history_type {
    TR_HISTORY_INVOKE = 0,
    TR_HISTORY_OK = 1,
    TR_HISTORY_FAIL = 2,
    TR_HISTORY_INFO = 3
} tr_history_type;

typedef struct tr_history_op {
    uint64_t index;  /* position in the history, from 0 */
    int64_t time_ns; /* non-decreasing */
    int64_t process; /* the client's process id */
    int32_t node;    /* 0-based index of the node the client used; -1: unknown */
    tr_history_type type;
    const char *f;  /* operation name (interned by the history) */
    int64_t key;    /* 0 for a single object */
    bool has_value; /* false: nil (a read's invoke; a read of an unset key) */
    bool pair;      /* value is the pair (value, value_to), e.g. cas [expected new]; fixed
                       by f for the built-in names (cas, reserve, restock: always; read,
                       write: never) */
    int64_t value;
    int64_t value_to;
    const char *error; /* "" when none (NULL too, on append); at most 47 bytes kept */
    /* The value when it is of another kind (a string, a keyword, bytes, a tuple other than a
     * pair of integers): on append, when not NULL it is the value, copied into the history,
     * and has_value, pair, value and value_to are ignored (nil, an integer or a pair of
     * integers given here go to those fields: one value, one form); read and write keep a
     * pair of integers here too, since their fast value is one integer. From tr_history_get:
     * NULL when the fast fields hold the value, else a view valid until the history is
     * destroyed (has_value is then true). cas, reserve and restock take a pair only. */
    const tr_value *any;
} tr_history_op;

/* An owned empty history for at most max_ops operations (1..TR_HISTORY_OPS_MAX), or NULL. */
tr_history *tr_history_create(size_t max_ops);
void tr_history_destroy(tr_history *h);
size_t tr_history_count(const tr_history *h);
/* Copies operation i (< count) into *out. TR_EINVAL for a bad index. */
int tr_history_get(const tr_history *h, size_t i, tr_history_op *out);
/* Appends op (its index is set to its position). Checks the invariants above: TR_EINVAL
 * (busy or retired process, time going back, completion naming another f or key, a bad or
 * one too many name, a built-in op of the wrong shape: a read invoke with a value, a write
 * or cas without its value or pair), TR_EFULL (max_ops reached). Nothing changes on error.
 * A completion of a built-in op repeats its invoke's value (a read's ok: the value read);
 * one of another name may carry anything (what the operation returned). A value in `any`
 * breaking the limits above (depth, sizes, UTF-8 or a NUL in a string, a bad keyword) is
 * TR_EINVAL; TR_EFULL past TR_HISTORY_VALUES_MAX. */
int tr_history_append(tr_history *h, const tr_history_op *op);
/* Jepsen EDN (one map per line, Knossos's [key value] tuples) and JSON (an array of objects
 * with the same fields). 0 or TR_EIO. Values: nil, integers, strings and tuples (EDN vectors,
 * JSON arrays) as themselves; a keyword as :name in EDN and {"keyword": "name"} in JSON;
 * bytes as {:base64 "..."} / {"base64": "..."} (RFC 4648 with padding: a string both
 * formats carry as is, a third larger than the bytes, that no reader mistakes for a tuple of
 * integers). Both load back to the same values. */
int tr_history_write_edn(const tr_history *h, FILE *out);
int tr_history_write_json(const tr_history *h, FILE *out);
/* Reads a JSON or EDN history file (detected by content) into a new owned *out; on error
 * TR_EIO / TR_ECORRUPT / TR_ETOOBIG and a one-line reason with its position in err. A value
 * breaking the limits above (nesting, sizes, bad UTF-8 or escapes) is TR_ECORRUPT. */
int tr_history_load(const char *path, size_t max_ops, tr_history **out, char *err, size_t err_cap);

/* ---- Checking a history ---- */

/* The three verdicts every check ends in. Unknown (a search budget ran out) is never held.
 * The values are the exit codes `troupe sim` and `troupe check` use. */
typedef enum tr_verdict {
    TR_VERDICT_HELD = 0,
    TR_VERDICT_VIOLATED = 1,
    TR_VERDICT_UNKNOWN = 3
} tr_verdict;
const char *tr_verdict_name(tr_verdict v); /* "held", "violated", "unknown" */

/* A sequential model for the linearizability checker: a state of state_size bytes; step
 * applies op (an invoke paired with its completion: f, key, value of the invoke and, for an
 * ok read, the value returned in `ret`; ret is NULL when the outcome is unknown: info, or
 * never completed) and says whether the model allows it, updating the state. Keys are
 * checked independently: one state per key. States are memoised and compared as bytes: init
 * and step must leave no uninitialised padding. A value of another kind reaches step in
 * op->any; since equal values share one view in a history, a state may hold the view's
 * address (a string register's current value) and still compare as bytes. */
typedef struct tr_lin_model {
    const char *name;
    size_t state_size; /* at most 64 bytes */
    void (*init)(void *state);
    bool (*step)(void *state, const tr_history_op *invoke, const tr_history_op *ret);
} tr_lin_model;
/* Built-in models: a read/write register ("read", "write") and a register with
 * compare-and-set ("read", "write", "cas" with value = (expected, new)). Their values are
 * integers (the register checker's fast path) or, in a history holding any other value in a
 * read or write, values of any kind compared whole (the general search). */
extern const tr_lin_model tr_lin_model_register;
extern const tr_lin_model tr_lin_model_cas_register;

typedef struct tr_lin_result {
    tr_verdict verdict;
    int64_t key;           /* violated: the first key found not linearizable */
    uint64_t op_index;     /* violated: an operation no order can place */
    uint64_t configs;      /* configurations explored */
    char why[160];         /* one line for a person */
    uint64_t keys;         /* distinct keys checked */
    uint64_t keys_unknown; /* of which the budget ran out */
    uint64_t calls;        /* operations checked (failed ones left out) */
} tr_lin_result;
/* Checks linearizability of h against model, each key on its own, exploring at most `budget`
 * configurations per key (0 = default 1M; and at most 512 MiB) before answering unknown.
 * Failed ops are left out. With the built-in models, ops whose f the model does not know
 * make the check TR_EINVAL; another model's step refuses them (returns false). TR_EINVAL
 * for a model without init or step or with state_size over 64. On an error out->verdict is
 * unknown. */
int tr_lincheck_history(const tr_history *h, const tr_lin_model *model, uint64_t budget,
                        tr_lin_result *out);

/* ------------------------------------------------------------------------------------ */
/* Services: the unit that a node, a simulation and a test all host                      */
/* ------------------------------------------------------------------------------------ */
/* A service is a business capability written as actors: its actor behaviours and where they
 * run, the requests it answers, and optionally a workload (how a simulated client uses it),
 * checks over the history and the nodes' final states, its own fault kinds and planted bugs.
 * `troupe node --load svc.so`, `troupe sim --load svc.so --workload NAME` and a C test
 * calling tr_experiment_run all host the same descriptor; troupe's own services are
 * descriptors of the same kind. A module exports one function, TR_SERVICE_ENTRY, returning
 * its descriptor; the host checks `abi` and refuses a module built for another ABI. The entry
 * point's name stays the same across ABIs, so that a host can always find an older or newer
 * module and say which ABI it was built for; the ABI number changes whenever a struct a
 * module fills (tr_service, tr_workload, ...) changes shape. ABI 2: a declared nemesis, a
 * workload's table of operations and target, stateful clients. ABI 3: the check that
 * linearizability rests on (tr_service.lin_rests_on), and a clock fault's change in its
 * tr_fault_span. ABI 4: the check that a check rests on (tr_check.rests_on).
 * Everything a descriptor points at is static: it must live as long as the module. */
#define TR_SERVICE_ABI 4
#define TR_SERVICE_ENTRY "troupe_service_v1"
#define TR_SERVICE_ACTORS_MAX 16
#define TR_SERVICE_CHECKS_MAX 8

/* Where the host runs a service (given to the argument and workload callbacks). */
typedef struct tr_service_env {
    uint32_t node_index; /* this node, 0-based */
    uint32_t node_count;
    const char *node_name;         /* "n1"... */
    const char *const *node_names; /* node_count names, in index order */
    const char *bug;               /* the planted bug selected (one of tr_service.bugs), or NULL */
    bool simulated;
} tr_service_env;

typedef enum tr_placement {
    TR_PLACE_EVERY_NODE = 0,
    TR_PLACE_NAMED_NODES = 1 /* the nodes listed in tr_service_actor.nodes */
} tr_placement;

typedef struct tr_service_actor {
    const char *name; /* registered under this name on each node that runs it */
    const tr_behaviour *behaviour;
    tr_placement placement;
    const char *nodes; /* TR_PLACE_NAMED_NODES: comma-separated node names */
    /* The spawn argument on this node: writes at most cap bytes into buf and the length into
     * *len; 0 or a TR_E code (the host then refuses to start the service). NULL: the spawn
     * argument is a tr_service_place (below). */
    int (*arg)(const tr_service_env *env, void *buf, size_t cap, size_t *len);
} tr_service_actor;

/* The spawn argument of a service actor whose tr_service_actor.arg is NULL: where it runs,
 * so that it needs no callback to learn its node and the planted bug selected. */
typedef struct tr_service_place {
    uint32_t node_index; /* this node, 0-based */
    uint32_t node_count;
    char bug[32]; /* the planted bug selected, NUL-terminated; "" when none */
} tr_service_place;

typedef struct tr_service_request {
    const char *name; /* what `troupe call` accepts in place of the type number */
    uint32_t type;
} tr_service_request;

/* One operation a simulated client is about to invoke (see tr_history_op). */
typedef struct tr_workload_op {
    const char *f; /* static string */
    int64_t key;
    bool has_value;
    bool pair;
    int64_t value;
    int64_t value_to;
    /* A value of another kind (tr_history_op.any): borrowed, valid until the operation's
     * completion is recorded (static, or in the client's state); NULL: the fields above. */
    const tr_value *any;
} tr_workload_op;

/* One operation of a declarative workload (tr_workload.ops). The default next picks a row
 * uniformly, a key uniformly in [0, key_count) and, for a write, a value uniformly in
 * [value_min, value_max]; it sends the request `type` with the body [key, value] (a read:
 * [key]) and records f, key and a write's value. The default complete: a reply holding an
 * integer is ok (a read read that integer; a write keeps its value), a reply holding a string
 * is fail with that string as the error (the history keeps 47 bytes of it), except the
 * string "indeterminate" (an entity host's answer: troupe.h, "Entities"), which is info for a
 * write; without a
 * reply (timeout, crash) a write is info (it may still take effect) and a read is fail (it
 * changed nothing); any other reply is info for a write, fail for a read. */
typedef struct tr_workload_op_spec {
    const char *f;                /* the history's operation name; static */
    uint32_t type;                /* the request type */
    bool write;                   /* true: the operation changes state; false: a read */
    int64_t value_min, value_max; /* a write's value range; min <= max */
} tr_workload_op_spec;
/* Where a run is, for a client that keeps state (tr_workload.client_next). */
typedef enum tr_workload_phase {
    TR_WORKLOAD_RUNNING = 0,  /* the workload time: new operations welcome */
    TR_WORKLOAD_STOPPING = 1, /* after it: only the client's unfinished work (retries) */
    TR_WORKLOAD_FINAL = 2     /* healed and quiet: final operations (reads of the end state) */
} tr_workload_phase;

/* One simulated client, as a stateful workload sees it. */
typedef struct tr_workload_client {
    const tr_service_env *env; /* the client's node */
    void *state;               /* tr_workload.client_state_size bytes, zeroed at the start of
                                  the run and kept through restarts of the node (the client's
                                  own durable memory); valid for the call */
    uint32_t id;               /* 1.. over every client of the run, stable for the run */
    uint32_t node_client;      /* 0-based index among its node's clients */
    tr_sim_rng *rng;           /* the client's own seeded stream */
    uint32_t key_count;
    uint64_t now_ns; /* virtual time */
    tr_workload_phase phase;
    uint64_t wait_ns; /* out of client_next returning TR_EAGAIN: ask again after this long
                         (0: after an ordinary think time) */
} tr_workload_client;

/* How a simulated client uses the service. The runner spawns clients_per_node client actors
 * on every node; each loops: think, next() an operation and its request, send it to the
 * actor registered as *target on the client's own node, wait for the reply or op_timeout,
 * complete() it into the history, and retire its process after an info.
 * A client that keeps state across operations (ids it retries, what it still owes) sets
 * client_state_size, client_next and client_complete instead of next and complete: they see
 * its tr_workload_client. client_next returns 0 with an operation, TR_EAGAIN for none yet
 * (cl->wait_ns), or another code when the client has nothing more to do in this phase. The
 * runner calls it in every phase (RUNNING, then STOPPING until no client is busy or a bound,
 * then FINAL on every up node until no client is busy or a bound); client_busy says whether
 * a client still has work in the current phase. A send refused completes through
 * client_complete with reply NULL and that error. */
typedef struct tr_workload {
    uint32_t clients_per_node; /* 0: the runner's default */
    /* Fills *op, writes the request body with w, sets *type and *target. rng is the client's
     * own seeded stream; key_count the configured number of keys. 0 or a TR_E code (the
     * client stops). */
    int (*next)(const tr_service_env *env, tr_sim_rng *rng, uint32_t key_count, tr_workload_op *op,
                uint32_t *type, const char **target, tr_mp_writer *w);
    /* The outcome of op: reply is the reply message, or NULL when err says why there is none
     * (TR_ETIMEDOUT, TR_ECLOSED: node crashed). Fills *done (f and key as op; value: for an
     * ok read what was read) and returns TR_HISTORY_OK, _FAIL or _INFO; *error: a short
     * static reason for fail and info. */
    tr_history_type (*complete)(const tr_service_env *env, const tr_workload_op *op,
                                const tr_msg *reply, int err, tr_workload_op *done,
                                const char **error);
    /* Optional: a table of operations (tr_workload_op_spec). With it, next and complete may
     * be NULL: the defaults above serve in their place (with both callbacks given, the table
     * and target are never read). At most TR_WORKLOAD_OPS_MAX rows. */
    const tr_workload_op_spec *ops;
    uint32_t op_count;
    const char *target;       /* static: the default next's target actor; NULL: the first actor */
    size_t client_state_size; /* at most TR_WORKLOAD_CLIENT_STATE_MAX */
    int (*client_next)(tr_workload_client *cl, tr_workload_op *op, uint32_t *type,
                       const char **target, tr_mp_writer *w);
    /* As complete; *error may point into cl->state. */
    tr_history_type (*client_complete)(tr_workload_client *cl, const tr_workload_op *op,
                                       const tr_msg *reply, int err, tr_workload_op *done,
                                       const char **error);
    bool (*client_busy)(const tr_workload_client *cl); /* NULL: never busy */
} tr_workload;
#define TR_WORKLOAD_OPS_MAX 64
#define TR_WORKLOAD_CLIENT_STATE_MAX 4096

/* What a check sees at the end of a run: the history, and each node's final state (the reply
 * body of a state request sent after the heal and a quiet period; NULL for a node that was
 * down). */
typedef struct tr_fault_span tr_fault_span; /* (Experiments) */
typedef struct tr_check_input {
    const tr_history *history;
    uint32_t node_count;
    const uint8_t *const *states;
    const size_t *state_lens;
    const char *bug;
    /* The faults of the run (the fault timeline), borrowed for the call. */
    const tr_fault_span *faults;
    uint32_t fault_count;
    void *measures_; /* the runner's, for tr_check_measure (NULL: measures are dropped) */
    tr_sim *sim;     /* the finished simulation (borrowed, valid during the check), for
                    tr_check_kv_get; NULL when the check runs elsewhere */
} tr_check_input;

/* Reads what the nodes stored durably, so that a service needs no state request: copies the
 * committed value of `key` in the store of the actor registered as `actor` on node `node`
 * (0-based) at the end of the run into buf[0..cap) and sets *len. Only what was committed
 * counts: a write a crash took back is not there. 0; TR_ENOENT (never written, or deleted);
 * TR_ETOOBIG (*len set to the size needed); TR_EINVAL (no simulation in `in`, a bad node or
 * argument); TR_ENOTSUP (the node has no store); TR_EIO (also: the node's store could not be
 * opened again after a storage fault, so it stayed down). */
int tr_check_kv_get(const tr_check_input *in, uint32_t node, const char *actor, const void *key,
                    size_t klen, void *buf, size_t cap, size_t *len);

typedef struct tr_check {
    const char *name;
    tr_verdict (*run)(const tr_check_input *in, char *why, size_t why_cap);
    /* Optional: the name of another of the service's checks whose guarantee this one rests on
     * (a stock level kept right by one activation per item rests on "single-activation"). When
     * this check is violated and that one did not hold, this one takes its verdict: unknown
     * ("not promised when ... is unknown") or violated ("... was violated too"). The named
     * check may not rest on another. */
    const char *rests_on;
} tr_check;

/* A fault kind of the service's own (a failing payment provider, a slow dependency): the
 * random fault generator schedules it like a built-in kind when named in the nemesis. */
typedef struct tr_service_fault {
    const char *name;
    void (*start)(tr_sim *sim, uint32_t node_index);
    void (*stop)(tr_sim *sim, uint32_t node_index);
} tr_service_fault;

typedef struct tr_service {
    uint32_t abi;     /* TR_SERVICE_ABI */
    const char *name; /* the --workload name; [a-z0-9-], at most TR_NAME_MAX bytes */
    const tr_service_actor *actors;
    uint32_t actor_count;
    const tr_service_request *requests;
    uint32_t request_count;
    const tr_workload *workload;   /* optional */
    const tr_lin_model *lin_model; /* optional: check the history's linearizability */
    const tr_check *checks;        /* optional */
    uint32_t check_count;
    const char *state_actor; /* optional: the final-state request's target ... */
    uint32_t state_type;     /* ... and type */
    const tr_service_fault *faults;
    uint32_t fault_count;
    const char *const *bugs; /* NULL-terminated planted bug names, or NULL */
    /* The fault kinds that matter to the service (TR_NEMESIS_* bits): the nemesis of a run
     * that names none (tr_nemesis_spec.kinds == TR_NEMESIS_DEFAULT, as tr_experiment_config_init
     * sets it; `troupe sim` without --nemesis). 0: a partition. */
    uint32_t nemesis;
    /* Optional (with lin_model): the name of one of `checks` whose guarantee the service's
     * linearizability rests on, as an entity's rests on single activation. When the history is
     * not linearizable and that check did not hold, the linearizability verdict is that
     * check's: unknown when the check says its own promise did not apply to the run ("not
     * promised with clock faults"), violated when the check was violated; the why names both.
     * When the check held, a history that is not linearizable is violated as always. */
    const char *lin_rests_on;
} tr_service;

/* In tr_nemesis_spec.kinds: the nemesis the workload's service declares (tr_service.nemesis;
 * a partition when it declares none). With a scenario file it adds no random faults. */
#define TR_NEMESIS_DEFAULT (1u << 31)

typedef const tr_service *(*tr_service_entry_fn)(void);

/* TR_EINVAL with a one-line reason in err for a descriptor the host cannot run (ABI, names,
 * counts, missing callbacks). */
int tr_service_validate(const tr_service *svc, char *err, size_t err_cap);
/* Loads a service module (dlopen) and returns its validated descriptor. TR_ENOENT (no such
 * file or not loadable), TR_EINVAL (no TR_SERVICE_ENTRY, wrong ABI, invalid descriptor);
 * err says which. The module stays loaded for the life of the process. */
int tr_service_load(const char *path, const tr_service **out, char *err, size_t err_cap);
/* Spawns and registers the service's actors placed on this node (env says which node). On a
 * real node (env->simulated false; call it from a plain thread, not an actor) it waits for
 * their inits: one that fails makes it return that error after the actors already started
 * are stopped and their names freed. On a simulated node (the sim's boot hook) it returns
 * once they are spawned; an init that fails then stops that actor with its reason. */
int tr_service_boot(const tr_service *svc, tr_node *node, const tr_service_env *env);

/* ---- What every service would otherwise write by hand ---- */

/* An init for a service actor spawned with the default argument (tr_service_actor.arg NULL):
 * copies the tr_service_place into the start of the actor's state (state_size at least
 * sizeof(tr_service_place)). TR_EINVAL for another argument. */
int tr_service_place_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len);
/* Key ownership: the node that owns `key` is key mod node_count (non-negative). When this
 * node (at) owns it, returns TR_SERVICE_MINE and sends nothing: handle the request here. Else
 * forwards req (tr_forward) to the actor registered as `actor` on the owner, named
 * "actor@nK" (K = owner index + 1: nodes are named n1..nN in index order, as the simulator
 * names them and as `troupe node --replicas n1,...,nN` must) and returns 0: the owner answers
 * the caller. When the forward is refused (TR_EUNREACH: the failure detector holds the owner's
 * node down; TR_EFULL; TR_EINVAL: a bad place or name), nothing was sent, so the request
 * certainly had no effect: it answers req at once with the error's text (tr_strerror, as
 * tr_reply_str) and returns that error. */
#define TR_SERVICE_MINE 1
int tr_service_forward_owner(tr_ctx *ctx, const tr_msg *req, const tr_service_place *at,
                             const char *actor, int64_t key);
/* Reads a request body that is a msgpack array of at most cap integers into out[0..n) and
 * returns n; TR_EINVAL when the body is anything else (out may then be partly written). */
int tr_msg_read_ints(const tr_msg *msg, int64_t *out, uint32_t cap);
/* Replies to req with its own type and a body holding one integer, or one string (its first
 * 256 bytes); durable: as tr_reply_durable. The result of tr_reply / tr_reply_durable. */
int tr_reply_int(tr_ctx *ctx, const tr_msg *req, int64_t value, bool durable);
int tr_reply_str(tr_ctx *ctx, const tr_msg *req, const char *s, bool durable);
/* tr_experiment_config_init, then one service to run, *svc, driving the run with its own
 * workload (cfg->services = svc, borrowed: it must outlive the runs). */
struct tr_experiment_config;
void tr_service_experiment_init(struct tr_experiment_config *cfg, const tr_service *const *svc);

/* ------------------------------------------------------------------------------------ */
/* Experiments: a simulated cluster, services, a workload, a nemesis and checks          */
/* ------------------------------------------------------------------------------------ */
/* Nemesis kinds for the random fault generator (all drawn from the seed). */
enum {
    TR_NEMESIS_PARTITION = 1u << 0,
    TR_NEMESIS_CRASH = 1u << 1,
    TR_NEMESIS_PAUSE = 1u << 2,
    TR_NEMESIS_CLOCK = 1u << 3,
    TR_NEMESIS_DELAY = 1u << 4,
    TR_NEMESIS_LOSS = 1u << 5,
    TR_NEMESIS_DUP = 1u << 6,
    TR_NEMESIS_REORDER = 1u << 7,
    TR_NEMESIS_ISOLATE = 1u << 8, /* short random partitions of these shapes */
    TR_NEMESIS_RING = 1u << 9,
    TR_NEMESIS_BRIDGE = 1u << 10,
    TR_NEMESIS_ONEWAY = 1u << 11,
    TR_NEMESIS_IO_ERROR = 1u << 12,  /* storage faults (tr_sim_disk_*): commits fail with EIO */
    TR_NEMESIS_DISK_FULL = 1u << 13, /* ... with ENOSPC */
    TR_NEMESIS_SLOW_DISK = 1u << 14, /* commits take longer */
    TR_NEMESIS_CORRUPT = 1u << 15    /* a torn data file: the node never starts again */
};

typedef struct tr_nemesis_spec {
    uint32_t kinds;             /* TR_NEMESIS_* bits */
    const char *service_faults; /* comma-separated tr_service_fault names, or NULL */
    uint64_t interval_ns;       /* mean time between faults; 0 = default */
    const char *scenario_path;  /* a scenario file instead of random faults, or NULL */
} tr_nemesis_spec;

typedef struct tr_experiment_config {
    tr_sim_config sim;                 /* seed, nodes, delays...; boot is the runner's */
    const tr_service *const *services; /* borrowed */
    uint32_t service_count;
    const char *workload; /* name of the service whose workload drives the run */
    const char *bug;      /* a planted bug of that service, or NULL */
    tr_nemesis_spec nemesis;
    uint64_t duration_ns; /* workload time; then heal, quiet, final states */
    double rate;          /* operations per second over all clients */
    uint32_t keys;
    uint32_t op_timeout_ms;
    size_t history_max;  /* 0 = 1M operations */
    uint64_t lin_budget; /* configurations the linearizability check may explore; 0 = 200k */
    /* The module paths the services were loaded from (--load), for the replay line. */
    const char *const *load_paths; /* borrowed; NULL when load_path_count is 0 */
    uint32_t load_path_count;
    uint32_t clients_per_node; /* 0 = the workload's clients_per_node (itself 0 = 2) */
    /* Per seed, draw from the seed (a stream of its own) the node count, the link delays and
     * their distribution, the loss, duplication and reordering rates, the failure-detection
     * delay and op_timeout_ms, within the bounds of docs/simulation.md ("Randomised
     * configurations"), in place of the values above; the replay line gives the drawn values
     * as explicit options. Cannot be combined with a scenario file (it names nodes). */
    bool randomize;
    /* Several workloads side by side in one run (the same cluster and faults; each its own
     * clients at `rate`, history, final states and checks): the names of their services, in
     * report order. NULL / 0: the one `workload` names. The planted bug `bug` applies to the
     * one of them that names it. */
    const char *const *workloads; /* borrowed */
    uint32_t workload_count;      /* at most TR_EXPERIMENT_WORKLOADS_MAX */
    /* After the heal, ask every up node's state actor for its state every converge_poll_ns
     * until all answer the same non-empty bytes (a workload's converged_after_ns) or the
     * settle bound;
     * 0: not timed (the final states alone say whether the replicas agree). */
    uint64_t converge_poll_ns;
    /* Writes the run's events as JSON lines (tr_sim_trace_spec); NULL: no trace. Borrowed. */
    const struct tr_sim_trace_spec *trace;
    /* Writes the spans of its clients' traces as Zipkin v2 JSON (tr_sim_spans_spec); NULL:
     * none. Borrowed. */
    const struct tr_sim_spans_spec *spans;
} tr_experiment_config;
#define TR_EXPERIMENT_WORKLOADS_MAX 4
void tr_experiment_config_init(tr_experiment_config *cfg);

struct tr_fault_span {
    const char *kind; /* "partition", "crash", ..., or a service fault's name */
    uint64_t start_ns, end_ns;
    uint64_t nodes; /* bit i: node index i touched */
    /* For kind "clock", how the clock changed: "jump" (value: the nanoseconds added, either
     * sign), "skew" (value: the offset set from true time, ns) or "drift" (value: the rate's
     * offset from true time, ppm); NULL for every other kind. */
    const char *change;
    int64_t value;
};
/* Whether the clock fault f is outside "bounded drift and no jumps", the condition leases
 * rest on (single activation, a lock's owner): a jump or skew, or a drift of
 * TR_CLOCK_DRIFT_BOUND_PPM or more either way (two clocks then drift apart by 10% or more).
 * False for a span of another kind. */
#define TR_CLOCK_DRIFT_BOUND_PPM 50000
bool tr_fault_breaks_clock_bound(const tr_fault_span *f);

/* Completed operations by outcome; fraction = ok / (ok + fail + info), -1 when none. */
typedef struct tr_availability {
    uint64_t ok, fail, info;
    double fraction;
} tr_availability;

/* A named figure a check reports with its verdict (writes lost, a convergence time), for a
 * report to print: `troupe sim` shows the ones it knows. name: a string that lives as long as
 * the service (a literal). */
typedef struct tr_measure {
    const char *name;
    double value;
} tr_measure;
#define TR_CHECK_MEASURES_MAX 4
/* From inside a check's run: reports the measure name = value with its outcome. 0, TR_EFULL
 * (TR_CHECK_MEASURES_MAX reported already), TR_EINVAL (no name); with an input the runner did
 * not make (measures_ NULL) the measure is dropped and 0 returned. */
int tr_check_measure(const tr_check_input *in, const char *name, double value);
/* From inside a check's run: one value the service's checks share within a run, for what
 * several of them read alike (every node's end state). The first check of the run that asks
 * with `tag` (an address of the service's own: a static's) gets make(in)'s value, and so does
 * every later check of the same run that asks with that tag (a service's checks run one
 * after another over the same history and stores). A shared value must not be changed. The
 * runner calls drop(value) after the run's last check; *owned is then false. NULL when make
 * returned NULL (nothing is kept: the next ask makes it again). With an input the runner did
 * not make (measures_ NULL), or past TR_CHECK_SHARED_MAX tags in one run, nothing is kept:
 * make(in)'s value is returned with *owned true, and the caller drops it. */
#define TR_CHECK_SHARED_MAX 4
void *tr_check_shared(const tr_check_input *in, const void *tag,
                      void *(*make)(const tr_check_input *in), void (*drop)(void *value),
                      bool *owned);

typedef struct tr_check_outcome {
    const char *name; /* "linearizable" or the check's name */
    tr_verdict verdict;
    char why[200];
    /* What the check points at, when it does (linearizable: the first key violated or left
     * undecided, and an operation no order can place, by its index in the history). */
    bool has_key, has_op;
    int64_t key;
    uint64_t op_index;
    /* Named figures the check reported (tr_check_measure), in the order reported. */
    uint32_t measure_count;
    tr_measure measures[TR_CHECK_MEASURES_MAX];
} tr_check_outcome;

/* The value of the measure `name` of outcome o, or `otherwise` when it reported none. */
double tr_check_outcome_measure(const tr_check_outcome *o, const char *name, double otherwise);

/* One workload's share of a run (tr_experiment_result.workloads). */
typedef struct tr_workload_result {
    const char *name; /* its service's */
    tr_verdict verdict;
    uint32_t check_count;
    tr_check_outcome checks[TR_SERVICE_CHECKS_MAX + 1];
    uint64_t ops_ok, ops_fail, ops_info;
    uint64_t latency_p50_ns, latency_p99_ns;
    tr_availability available, available_majority, available_minority;
    tr_history *history; /* owned by the result */
    /* With converge_poll_ns and a state actor: whether, and how long after the heal, every
     * up node's state was the same. */
    bool convergence_timed, converged;
    uint64_t converged_after_ns;
} tr_workload_result;

typedef struct tr_experiment_result {
    uint64_t seed;
    uint64_t trace_hash;
    tr_verdict verdict; /* the worst of the checks: violated > unknown > held */
    uint32_t check_count;
    tr_check_outcome checks[TR_SERVICE_CHECKS_MAX + 1];
    uint64_t ops_ok, ops_fail, ops_info;
    uint64_t latency_p50_ns, latency_p99_ns; /* of ok operations */
    uint32_t fault_count;
    const tr_fault_span *faults; /* owned by the result */
    tr_history *history;         /* owned by the result */
    char replay[512];            /* the `troupe sim` command line that replays this run */
    /* The first majority/minority split of the partition nemesis, when it happened: its
     * window (from its start to its heal) and the minority's nodes. */
    bool partitioned;
    uint64_t partition_start_ns, partition_end_ns;
    uint64_t minority_nodes; /* bit i: node index i (n<i+1>) was on the minority side */
    /* Availability: completed operations of the whole run, and of those invoked inside the
     * partition window by a client on the majority side and on the minority side (a client
     * uses its own node, so it is on the same side as the node that answers it). */
    tr_availability available, available_majority, available_minority;
    tr_sim_stats stats;  /* the simulator's counters at the end (events, faults fired) */
    uint64_t virtual_ns; /* virtual time at the end of the run */
    /* Every workload's share, in the configuration's order. The fields above from checks to
     * available_minority are the first workload's (workloads[0].history is `history`), but
     * verdict is the worst of all of them. */
    uint32_t workload_count;
    tr_workload_result *workloads; /* owned by the result */
    /* With cfg->sim.net TR_SIM_NET_PROTOCOL: what the cluster protocol did (net_ok true). */
    bool net_ok;
    tr_sim_net_stats net;
    /* Every fault that took effect before the end of the workload (random or from a scenario
     * file), as a scenario file's text that replays them with `--scenario` (one line per
     * fault, docs/simulation.md): owned by the result, NULL when none took effect or when
     * they cannot all be written (a service fault kind was selected: the format has none);
     * scenario_faults counts its lines. `troupe sim --shrink` starts from it (docs/shrink.md). */
    char *scenario;
    uint32_t scenario_faults;
} tr_experiment_result;

/* Runs one seed (cfg->sim.seed). *out is owned: tr_experiment_result_destroy. TR_EINVAL with
 * a reason in err for a configuration that cannot run (unknown workload or bug, a fault that
 * cannot apply). */
int tr_experiment_run(const tr_experiment_config *cfg, tr_experiment_result **out, char *err,
                      size_t err_cap);
void tr_experiment_result_destroy(tr_experiment_result *r);

typedef struct tr_sweep_summary {
    uint64_t runs, held, violated, unknown, errors;
    uint64_t first_failing_seed; /* valid when violated + unknown > 0 */
    char first_replay[512];
} tr_sweep_summary;
/* Runs seeds first..last; calls each (may be NULL) with every result before destroying it. */
int tr_experiment_sweep(const tr_experiment_config *cfg, uint64_t first, uint64_t last,
                        tr_sweep_summary *out,
                        void (*each)(const tr_experiment_result *r, void *ud), void *ud, char *err,
                        size_t err_cap);

/* The `troupe sim` command line that replays cfg's run (the one in a result's replay). */
void tr_experiment_replay_line(const tr_experiment_config *cfg, char *buf, size_t cap);
/* Runs the experiment of cfg->sim.seed twice and compares the two runs event by event
 * (tr_sim_check_determinism): out says whether and where they diverged. 0, or TR_EINVAL with
 * a reason in err for a configuration that cannot run, or an error from tr_sim_create. */
int tr_experiment_check_determinism(const tr_experiment_config *cfg, tr_sim_divergence *out,
                                    char *err, size_t err_cap);
/* ------------------------------------------------------------------------------------ */
/* Fault points (BUGGIFY): rare paths made common in the simulator                       */
/* ------------------------------------------------------------------------------------ */
/* TR_BUGGIFY(ctx) marks a place in a service where something rare may happen (a slow path, an
 * early timeout, a skipped round) and evaluates to true when the service should take the rare
 * path now:
 *   - on a real node, never: the real engine always answers false, and while no simulation
 *     with buggify on exists in the process the macro costs one load and one predictable
 *     branch, with no call;
 *   - in a simulation created with tr_sim_config.buggify (off by default), each site (its
 *     file name without directories, and its line) is enabled for the whole run or not, from
 *     the seed (one in two), and an enabled site answers true with probability 1/4 at each
 *     evaluation, drawn from the seed, the site, the node and the evaluation's rank: a run
 *     stays a function of (seed, options, code). The engine counts the evaluations and the
 *     true answers in tr_sim_stats.buggify_checked and buggify_fired.
 * A fault point must only choose among behaviours the service already allows itself (a timer
 * that fires early, a round that is skipped): the checks must still hold. ctx is the calling
 * actor's (borrowed), from one of its callbacks. */
extern int tr_buggify_sims; /* simulations alive with buggify on; read-only for users */
bool tr_buggify_point(tr_ctx *ctx, const char *file, int line);
#if defined(__GNUC__)
#define TR_BUGGIFY(ctx)                                                               \
    (__builtin_expect(__atomic_load_n(&tr_buggify_sims, __ATOMIC_RELAXED) != 0, 0) && \
     tr_buggify_point((ctx), __FILE__, __LINE__))
#else
#define TR_BUGGIFY(ctx) tr_buggify_point((ctx), __FILE__, __LINE__)
#endif
/* ------------------------------------------------------------------------------------ */
/* Probes: facts a service records for the simulator's checks                            */
/* ------------------------------------------------------------------------------------ */
/* A check over the history sees what clients saw; some properties are about what the nodes
 * did (which node handled an entity's message, and when), at the true time rather than a
 * node's skewed clock. tr_probe records such a fact: in the simulator the engine keeps it with
 * the true virtual time and the node's index, in the order the events ran; on a real node it
 * is dropped (one call, no allocation). A simulation keeps at most TR_SIM_PROBES_MAX probes;
 * later ones are only counted (a check must then not answer held from what was kept). Kinds
 * below TR_PROBE_USER are troupe's own. ctx is the calling actor's (borrowed). */
enum {
    TR_PROBE_ENTITY = 1, /* an entity handled a message: a = FNV-1a 64 of its type's name,
                            b = its id, c = the activation's epoch (tr_entity_check_single) */
    TR_PROBE_USER = 1u << 16
};
#define TR_SIM_PROBES_MAX (1u << 20)
void tr_probe(tr_ctx *ctx, uint32_t kind, uint64_t a, uint64_t b, uint64_t c);

typedef struct tr_sim_probe {
    uint64_t t_ns; /* true virtual time */
    uint32_t node; /* 0-based index */
    uint32_t kind;
    uint64_t a, b, c;
} tr_sim_probe;
/* The probes recorded so far, in the order they were made (time order): *out is borrowed,
 * valid until the simulation runs again or is destroyed; *dropped (may be NULL) counts those
 * beyond TR_SIM_PROBES_MAX or not kept for want of memory. Returns the count. */
size_t tr_sim_probes(const tr_sim *sim, const tr_sim_probe **out, uint64_t *dropped);

/* The check single-activation (a tr_check run function, for a service's checks): every
 * TR_PROBE_ENTITY probe of the run, grouped by activation (entity type and id, node, epoch);
 * violated when two activations of one entity handled messages in overlapping true time (the
 * first to the last message of each). Unknown without a simulation, without any entity
 * probe, or when probes were dropped and no violation is among those kept; and a violation in
 * a run with a clock fault outside the bound (tr_fault_breaks_clock_bound: a jump, a skew, a
 * drift of 5% or more) is unknown too, "not promised with clock faults": single activation is
 * promised under bounded drift and no clock jumps only (troupe.h, "Entities"). Reports the measures "entities" and
 * "activations". */
tr_verdict tr_entity_check_single(const tr_check_input *in, char *why, size_t why_cap);
/* ------------------------------------------------------------------------------------ */
/* Raft: a replicated log a service builds its state machine on (docs/raft.md)           */
/* ------------------------------------------------------------------------------------ */
/* One tr_raft lives inside the state of one actor on each of node_count nodes, all registered
 * under the same name. It allocates nothing: the log's commands stay in the store (only their
 * terms are kept in memory), so an actor that vanishes in a crash leaks nothing. The actor hands every message to tr_raft_receive first; Raft's own messages are
 * msgpack bodies over ordinary actor messages (types msg_base .. msg_base +
 * TR_RAFT_MSG_COUNT - 1, its tick timer included), so the same code runs on real nodes and in
 * the simulator. Term, vote, log and snapshot live in the actor's durable store (tr_kv_*):
 * a vote, an acknowledged entry and the leader's own entries count only once durable.
 * Election timeouts are drawn from tr_random (seeded per node in the simulator).
 *
 * Commands: the leader's actor calls tr_raft_propose with the client's request; once the
 * entry is committed every replica applies it (cfg.apply), and the proposing replica calls
 * cfg.done(req, 0, output) to answer. Reads: tr_raft_read (read-index: the leader confirms
 * with a majority that it still leads, waits until it has applied the commit index it saw,
 * then calls cfg.done(req, 0, NULL) and the service reads its state). Snapshots: every
 * snapshot_every applied entries the state machine is saved (cfg.snapshot) and the log below
 * is dropped; a follower too far behind gets the snapshot (cfg.restore). Membership:
 * node_names is every replica that may ever be a member; the configuration starts as all of
 * them and changes one replica at a time (tr_raft_change).
 *
 * Limits: at most TR_RAFT_NODES_MAX replicas, log_max entries above the snapshot (a proposal
 * beyond is refused with TR_EFULL), commands of at most TR_RAFT_COMMAND_MAX bytes, snapshots
 * of at most TR_RAFT_SNAPSHOT_MAX bytes, pending_max outstanding proposals and reads, read
 * request bodies of at most TR_RAFT_READ_BODY_MAX bytes. A malformed or out-of-range Raft
 * message is dropped and counted (tr_raft_status.bad_messages). */
#define TR_RAFT_NODES_MAX 16
#define TR_RAFT_MSG_COUNT 6
#define TR_RAFT_COMMAND_MAX 1024
#define TR_RAFT_SNAPSHOT_MAX (16u << 10)
#define TR_RAFT_READ_BODY_MAX 128
#define TR_RAFT_LOG_MAX 1024
#define TR_RAFT_PENDING_MAX 64
#define TR_RAFT_SIZE (56u << 10)

/* Planted bugs, for checking the checks (the lin-kv service's --bug). */
enum {
    TR_RAFT_BUG_STALE_LEADER_READ = 1u << 0, /* a leader answers reads without a majority */
    TR_RAFT_BUG_EARLY_COMMIT = 1u << 1,      /* the leader commits before a majority has it */
    TR_RAFT_BUG_NO_PREVOTE = 1u << 2,        /* elections raise the term without a pre-vote */
    TR_RAFT_BUG_STATIC_MAJORITY = 1u << 3,   /* majorities of node_count, not of the members */
    TR_RAFT_BUG_CONCURRENT_CHANGES = 1u << 4 /* a membership change while one is in flight */
};

/* A replica's memory, owned by the caller (put it in the actor's state); opaque. */
typedef struct tr_raft {
    uint64_t opaque_[TR_RAFT_SIZE / 8];
} tr_raft;

typedef struct tr_raft_config {
    uint32_t node_index;           /* this replica, 0-based */
    uint32_t node_count;           /* 1..TR_RAFT_NODES_MAX */
    const char *const *node_names; /* node_count node names ("n1"...); copied by init */
    const char *name;              /* the replicas' registered actor name; copied by init */
    uint32_t msg_base;             /* >= TR_MSG_USER; Raft uses TR_RAFT_MSG_COUNT types */
    uint32_t tick_ms;              /* 0 = 25 */
    uint32_t heartbeat_ticks;      /* 0 = 2 */
    uint32_t election_ticks;       /* 0 = 8: a follower waits [e, 2e) ticks for a leader */
    uint32_t log_max;              /* 0 = TR_RAFT_LOG_MAX entries above the snapshot */
    uint32_t batch_max;            /* 0 = 64 entries per append message */
    uint32_t snapshot_every;       /* 0 = 256 applied entries */
    uint32_t pending_max;          /* 0 = TR_RAFT_PENDING_MAX proposals and reads */
    uint32_t bugs;                 /* TR_RAFT_BUG_* (0 in production) */
    void *ud;                      /* borrowed; handed to the callbacks */
    /* Applies a committed command (the same order on every replica) and writes its output
     * (at most cap bytes) for the proposer's answer. 0 or a TR_E code (the output is then
     * empty). */
    int (*apply)(void *ud, tr_ctx *ctx, uint64_t index, const void *cmd, size_t len, void *out,
                 size_t cap, size_t *out_len);
    /* Writes the state machine (at most cap bytes); 0 or a TR_E code (no snapshot taken). */
    int (*snapshot)(void *ud, tr_ctx *ctx, void *buf, size_t cap, size_t *len);
    /* Replaces the state machine by a snapshot's; 0 or a TR_E code. */
    int (*restore)(void *ud, tr_ctx *ctx, const void *data, size_t len);
    /* The outcome of a proposal or read of this replica: req is the request given (its type,
     * sender, correlation id and, for reads, body; valid during the call). status 0: applied
     * (result = apply's output) or, for a read, safe to answer from the state machine now;
     * TR_EAGAIN: certainly not applied (its entry was replaced) or the read lost leadership. */
    void (*done)(void *ud, tr_ctx *ctx, const tr_msg *req, int status, const void *result,
                 size_t len);
} tr_raft_config;
void tr_raft_config_init(tr_raft_config *cfg);

/* Call from the actor's init, r in its state (borrowed for the actor's life): recovers term,
 * vote, snapshot and log from the actor's store and starts the tick timer. TR_EINVAL for a
 * bad config (counts, names, limits, missing callbacks), TR_ECORRUPT for a store it cannot
 * read back. Nothing to release: the actor's end ends it. */
int tr_raft_init(tr_raft *r, tr_ctx *ctx, const tr_raft_config *cfg);
/* 1 when msg was Raft's (handled), 0 when it is the service's. */
int tr_raft_receive(tr_raft *r, tr_ctx *ctx, const tr_msg *msg);
/* Appends cmd (copied; 1..TR_RAFT_COMMAND_MAX bytes) for req (borrowed). 0: cfg.done will be
 * called if this replica applies it; TR_EAGAIN: not the leader (tr_raft_leader says who);
 * TR_EFULL: the log or the pending table is full; TR_ETOOBIG, TR_EINVAL. */
int tr_raft_propose(tr_raft *r, tr_ctx *ctx, const tr_msg *req, const void *cmd, size_t len);
/* A linearizable read for req (body at most TR_RAFT_READ_BODY_MAX bytes, copied). 0: cfg.done
 * follows; TR_EAGAIN: not the leader, or no entry of its term committed yet; TR_EFULL. */
int tr_raft_read(tr_raft *r, tr_ctx *ctx, const tr_msg *req);
/* The replica this one believes leads (0-based), or -1. */
int tr_raft_leader(const tr_raft *r);

typedef enum tr_raft_role {
    TR_RAFT_FOLLOWER = 0,
    TR_RAFT_CANDIDATE = 1,
    TR_RAFT_LEADER = 2
} tr_raft_role;

typedef struct tr_raft_status {
    tr_raft_role role;
    int32_t leader;
    uint64_t term;
    uint64_t commit_index, applied_index, snapshot_index, last_index;
    uint64_t elections;           /* elections this replica started */
    uint64_t bad_messages;        /* Raft messages dropped as malformed or out of range */
    uint64_t leader_silent_ticks; /* a follower: ticks since it last heard from its leader */
    uint32_t members;             /* the current configuration: bit i = replica i is a member */
} tr_raft_status;
void tr_raft_status_get(const tr_raft *r, tr_raft_status *out);
/* Adds (add) or removes replica `node` (0-based, < node_count) as a member, one at a time
 * (Raft dissertation 4.1): the configuration is a log entry, in force on each replica once in
 * its log; votes and commits count the current configuration's majority. On the leader only;
 * req is borrowed (its type, sender and correlation id are kept for cfg.done).
 * An added replica first receives the log without counting (a learner); its entry is appended
 * once it holds every committed entry. cfg.done(req, 0) once the change is committed;
 * TR_ETIMEDOUT when the replica to add did not catch up within 20 election timeouts;
 * TR_EAGAIN when leadership was lost before its entry was appended, or its entry was
 * replaced. A removed leader steps down once its removal
 * commits; a replica outside its configuration starts no election. Returns 0, TR_EAGAIN not
 * the leader, TR_EBUSY a change in flight or no entry of this term committed yet, TR_EINVAL
 * (node out of range, already in or out, or the last member), TR_EFULL. */
int tr_raft_change(tr_raft *r, tr_ctx *ctx, const tr_msg *req, uint32_t node, bool add);

/* ------------------------------------------------------------------------------------ */
/* Event traces of a simulated run                                                        */
/* ------------------------------------------------------------------------------------ */
/* What an experiment with tr_experiment_config.trace writes (`troupe sim --trace FILE`): one
 * JSON object a line, in the order the simulator processed them, for every message an actor
 * received ("ev":"recv": virtual time t in ns, node, actor (its registered name or null),
 * to and from ("nN:actor-id"), type, corr, remote) and every fault the simulator counted
 * ("ev":"fault", its name). Filters keep the lines of one node (the receiver's, for a
 * message), of one actor name, and of a virtual time window; faults pass the actor filter.
 * At most max_bytes of lines; when more would have been written the file ends with one line
 * {"ev":"truncated",...} saying how many were left out. The same seed and options give the
 * same file byte for byte; a trace changes nothing in the run (nor its trace hash). Each run
 * of tr_experiment_run (and each seed of a sweep) truncates the file; the runs of
 * tr_experiment_check_determinism write none. A file that cannot be created fails the run
 * (TR_EIO). */
typedef struct tr_sim_trace_spec {
    const char *path;        /* created or truncated; borrowed */
    uint64_t max_bytes;      /* 0: TR_SIM_TRACE_BYTES_DEFAULT */
    int32_t node;            /* a node index from 0, or -1: every node */
    const char *actor;       /* a registered name, or NULL: every actor; borrowed */
    uint64_t from_ns, to_ns; /* the virtual window [from_ns, to_ns]; to_ns 0: to the end */
} tr_sim_trace_spec;
#define TR_SIM_TRACE_BYTES_DEFAULT (64ull * 1024 * 1024)

/* ------------------------------------------------------------------------------------ */
/* Entities: one live activation per id, placed by the runtime (docs/entities.md)         */
/* ------------------------------------------------------------------------------------ */
/* An entity type (an account, a stock item, an order) has many instances, each named by an id
 * >= 0 and holding a small state. A service hosts a type with one host actor per node,
 * registered under the type's name (behaviour tr_entity_behaviour(), spawn argument written
 * by tr_entity_host_arg). A request of any user type outside the host's own range, sent to
 * that name on any node, whose body names an id, reaches the one live activation of that id:
 * the host of the node that owns the id's shard (id mod TR_ENTITY_SHARDS) in a placement
 * table the hosts replicate with Raft. An activation loads the state from a majority of the
 * hosts' stores on its first message, handles one message at a time in arrival order, writes
 * a changed state to a majority before answering, and is dropped when idle (passivate_ms).
 * When a node's lease lapses its shards move to live nodes (with a larger epoch, the fencing
 * token) and their entities are activated there from their durable state.
 *
 * The guarantees. Whatever the clocks do, a deposed owner's write never overwrites the new
 * owner's state: the new owner's load saw it, or it can no longer reach a majority (fencing
 * tokens that every store checks: ABD with fences). Single activation (no two activations of one id
 * handle messages at overlapping times), and so reads answered from an activation's memory,
 * hold when clock drift between nodes stays under 10% over a lease and no clock jumps: a
 * node trusts its lease for lease_ms from the moment it sent the renewal the Raft leader
 * answered, and the leader moves a node's shards only after lease_ms * 1.1 by its own clock
 * since it last answered that node (and since it became leader). A falsely suspected node
 * stops by itself when its lease runs out. Shards move only when a lease lapses: a node that
 * comes back gets new shards only when another node's lease lapses (no rebalancing).
 *
 * Answers of the host itself (strings, as tr_reply_str): "unavailable" (the request was not
 * handled: no owner with a lease, its state could not be loaded, the activation was dropped
 * before it ran), "indeterminate" (handled, but its state change reached no majority in
 * write_timeout_ms: it may or may not surface later), "busy" (activation table or queue full;
 * not handled), "not owner" (a request forwarded by another host reached a host that does
 * not own the id; not handled), "bad request: no entity id" or "bad request: body too long"
 * (over TR_ENTITY_BODY_MAX); a handler's TR_E code as its text (tr_strerror). A request the
 * network delivers twice is handled once (the owner remembers its last 256 requests). */
#define TR_ENTITY_SHARDS 64
#define TR_ENTITY_STATE_MAX 1024
#define TR_ENTITY_ACTIVE_MAX 256 /* activations per host; a full table passivates the idlest */
#define TR_ENTITY_QUEUE_MAX 16   /* requests waiting for one activation */
#define TR_ENTITY_BODY_MAX 256   /* a request body the host queues or forwards */
#define TR_ENTITY_MSG_COUNT 16   /* the host's own message types, Raft's included */

typedef struct tr_entity_call {
    int64_t id;
    void *state;         /* type->state_max bytes; the first len hold the state (0: new) */
    size_t len;          /* in: the state's length; out: its new length (<= state_max) */
    bool changed;        /* the handler sets it when it changed state or len */
    tr_mp_writer *reply; /* the answer's body; the host answers with the request's type */
    uint64_t epoch;      /* the activation's fencing token (grows on every move) */
    uint64_t handled;    /* messages this activation handled before (0: its first, the state
                            was just loaded) */
    const char *bug;     /* the run's planted bug (tr_service_env.bug), "" when none: a
                            service's own bugs, for checking its checks */
} tr_entity_call;

typedef struct tr_entity_type {
    const char *name;  /* the hosts' registered name; [a-z0-9-]; static */
    size_t state_max;  /* 1..TR_ENTITY_STATE_MAX */
    uint32_t msg_base; /* >= TR_MSG_USER: the host's own types (Raft's included) are
                          msg_base .. msg_base + TR_ENTITY_MSG_COUNT - 1 */
    /* The id (>= 0) of a request, or a TR_E code; NULL: the first element of a msgpack array
     * body. */
    int64_t (*id_of)(const tr_msg *msg);
    /* One message of one entity (call valid during the call; the reply writer holds at most
     * TR_ENTITY_BODY_MAX bytes). 0: answer with *reply (after the state is at a majority
     * when changed); a TR_E code: the state is left as it was and the answer is the error's
     * text (tr_strerror). */
    int (*handle)(tr_ctx *ctx, tr_entity_call *call, const tr_msg *msg);
    uint32_t passivate_ms;     /* 0 = 30000 */
    uint32_t lease_ms;         /* 0 = 2000 */
    uint32_t write_timeout_ms; /* 0 = 1000 */
    /* 0: a load or a write is sent to each host once. Else one still short of a majority is
     * sent again every resend_ms (until write_timeout_ms) to the hosts that have not answered
     * it, so that a lost message costs a resend rather than the activation (each is
     * idempotent: a repeated load raises the fence to the same epoch, a repeated write stores
     * nothing new and is acknowledged again). */
    uint32_t resend_ms;
    /* 0: the hosts' Raft group keeps Raft's election timeout (8 ticks of 25 ms). Else a
     * follower that hears no leader for election_ms seeks an election, and a leader that
     * heard no majority within it steps down (100..60000, rounded up to whole ticks; another
     * value makes the host's init fail with TR_EINVAL). With a bare
     * majority of hosts left every follower counts: a window no longer than one stream's
     * retransmission delay makes leadership, and with it every lease, churn. */
    uint32_t election_ms;
} tr_entity_type;

/* Planted bug (for checking the checks): placement without fencing. The leader moves a
 * node's shards as soon as the failure detector reports it down, owners ignore the lapse of
 * their lease, and the stores ignore fencing tokens. */
enum {
    TR_ENTITY_BUG_NO_FENCING = 1u << 0
};

/* The hosts' behaviour (static; tr_entity_behaviour() returns its address, for a descriptor
 * that cannot name a data object). Its state is large (a Raft replica and the activations):
 * spawn one per node, under type->name. */
extern const tr_behaviour tr_entity_host;
const tr_behaviour *tr_entity_behaviour(void);
/* Writes the host's spawn argument for the node env describes (every node of env hosts the
 * type) into buf[0..cap) and sets *len: type is borrowed and must outlive the hosts (static).
 * For tr_service_actor.arg. 0; TR_EINVAL (a bad type, more than TR_RAFT_NODES_MAX nodes, a
 * long node name); TR_ETOOBIG (cap too small). */
int tr_entity_host_arg(const tr_entity_type *type, const tr_service_env *env, uint32_t bugs,
                       void *buf, size_t cap, size_t *len);
/* For checks: the newest state of entity id among the nodes' stores at the end of a run
 * (tr_check_kv_get of each node), copied into buf[0..cap), *len its length. The stores of
 * nodes a "corrupt" fault tore are skipped while they are a minority (a state written to a
 * majority is still held by one of the others). 0; TR_ENOENT (no node stored it); TR_ETOOBIG;
 * the errors of tr_check_kv_get (TR_EIO: a majority of the stores was torn). */
int tr_entity_check_get(const tr_check_input *in, const tr_entity_type *type, int64_t id, void *buf,
                        size_t cap, size_t *len);

/* ------------------------------------------------------------------------------------ */
/* Resilience: circuit breakers, retries with a budget, deadlines (docs/resilience.md)   */
/* ------------------------------------------------------------------------------------ */
/* Helpers a service wraps around its calls to another service. Each is a small state machine
 * in memory the caller owns (put it in the actor's state, one per dependency), allocates
 * nothing, and takes the time and any random number as arguments: inside an actor pass
 * tr_now_ms(ctx) and tr_random(ctx), so a simulated run stays a function of its seed; any
 * other caller (a gateway's loop thread) passes its own monotonic clock. Threading: none;
 * one state machine is used by one thread at a time (an actor's callbacks qualify). Fields
 * ending in an underscore are private. Errors a caller can map at once: TR_EAGAIN = refused by
 * an open breaker (HTTP 503 with Retry-After: tr_breaker_retry_after_ms), TR_ETIMEDOUT = the
 * deadline is gone (HTTP 504). */

/* ---- Circuit breaker ----
 * CLOSED: calls go through and outcomes are counted. It OPENs when consecutive_failures
 * outcomes in a row failed, or when, over the last window_ms, at least window_min_calls
 * outcomes were recorded and the failed fraction reached failure_ratio (either trigger may be
 * off: 0; not both). OPEN: every call is refused at once (TR_EAGAIN) for open_ms. Then the
 * next tr_breaker_allow moves it to HALF_OPEN, where up to half_open_probes calls go through
 * as probes: as many successes close it (its counts start afresh), one failure opens it again
 * for open_ms. When every probe is spent and no decision came within open_ms of entering
 * HALF_OPEN, the probes still out count as failed (it opens again), so a lost outcome cannot
 * hold the breaker half-open. Outcomes recorded while OPEN (calls let through before it
 * opened) are counted in the status and change nothing; one recorded while HALF_OPEN counts as
 * a probe's. The window is TR_BREAKER_BUCKETS buckets of window_ms / TR_BREAKER_BUCKETS
 * each. */
#define TR_BREAKER_BUCKETS 10

typedef enum tr_breaker_state {
    TR_BREAKER_CLOSED = 0,
    TR_BREAKER_OPEN = 1,
    TR_BREAKER_HALF_OPEN = 2
} tr_breaker_state;

typedef struct tr_breaker_config {
    uint32_t consecutive_failures; /* open after this many failures in a row; 0: off */
    double failure_ratio;          /* open at this failed fraction over the window; 0: off */
    uint32_t window_ms;            /* the ratio's sliding window, >= TR_BREAKER_BUCKETS */
    uint32_t window_min_calls;     /* the ratio counts from this many outcomes in the window */
    uint32_t open_ms;              /* how long OPEN refuses before probing; > 0 */
    uint32_t half_open_probes;     /* probes let through HALF_OPEN, successes to close; > 0 */
} tr_breaker_config;

/* Defaults: 5 consecutive failures, or 50% of at least 10 outcomes over 10 s; open 5 s;
 * 1 probe. */
void tr_breaker_config_init(tr_breaker_config *cfg);

typedef struct tr_breaker_bucket_ {
    uint64_t slot;
    uint32_t ok, failed;
} tr_breaker_bucket_;

typedef struct tr_breaker {
    tr_breaker_config cfg_;
    tr_breaker_state state_;
    uint32_t consecutive_;
    uint32_t probes_out_, probes_ok_;
    uint64_t changed_at_ms_; /* when the state last changed */
    uint64_t transitions_, opened_, rejected_, successes_, failures_, ignored_;
    tr_breaker_bucket_ buckets_[TR_BREAKER_BUCKETS];
} tr_breaker;

/* What a breaker shows (a service's status request, a gateway's Retry-After). */
typedef struct tr_breaker_status {
    tr_breaker_state state;
    uint64_t transitions;                   /* state changes since init */
    uint64_t opened;                        /* of which into OPEN */
    uint64_t rejected;                      /* calls refused (fast failures) */
    uint64_t successes, failures;           /* outcomes recorded */
    uint64_t ignored;                       /* outcomes recorded while OPEN */
    uint32_t consecutive_failures;          /* the current run of failures */
    uint32_t window_calls, window_failures; /* outcomes in the window now */
    uint64_t retry_after_ms;                /* OPEN: ms until it probes; else 0 */
} tr_breaker_status;

/* TR_EINVAL (and b untouched) for a config that cannot work: both triggers off, a ratio
 * outside (0, 1], a window shorter than TR_BREAKER_BUCKETS ms with the ratio on, open_ms or
 * half_open_probes 0. b starts CLOSED at time now_ms. */
int tr_breaker_init(tr_breaker *b, const tr_breaker_config *cfg, uint64_t now_ms);
/* May a call go now? 0: yes, and the caller records its outcome with tr_breaker_record;
 * TR_EAGAIN: refused (OPEN, or HALF_OPEN with every probe out), nothing to record. */
int tr_breaker_allow(tr_breaker *b, uint64_t now_ms);
/* The outcome of a call tr_breaker_allow let through: ok false for a failure (a timeout, an
 * unreachable node, an error the dependency caused; an answer that refuses a bad request is
 * a success for the breaker: the dependency works). */
void tr_breaker_record(tr_breaker *b, uint64_t now_ms, bool ok);
/* OPEN: ms until the next call may probe (at least 1); 0 otherwise. */
uint64_t tr_breaker_retry_after_ms(const tr_breaker *b, uint64_t now_ms);
void tr_breaker_status_get(const tr_breaker *b, uint64_t now_ms, tr_breaker_status *out);
/* "closed", "open", "half-open" (static). */
const char *tr_breaker_state_name(tr_breaker_state s);
/* tr_request_name behind b: TR_EAGAIN at once, nothing sent, when b refuses; otherwise the
 * request is sent (a send that fails is recorded as a failure and its error returned). The
 * caller then records the reply or TR_MSG_TIMEOUT that answers *corr_out with
 * tr_breaker_record_msg. */
int tr_breaker_request_name(tr_ctx *ctx, tr_breaker *b, const char *name, uint32_t type,
                            const void *body, size_t len, uint32_t timeout_ms, uint64_t *corr_out);
/* tr_breaker_record(b, tr_now_ms(ctx), msg is not TR_MSG_TIMEOUT): msg answers a request
 * sent through b (borrowed). */
void tr_breaker_record_msg(tr_ctx *ctx, tr_breaker *b, const tr_msg *msg);

/* ---- Retries: jittered exponential backoff, a per-dependency budget ----
 * A retry budget is a token bucket shared by every call to one dependency: each first attempt
 * deposits `ratio` of a token, each retry takes a whole one, and the bucket holds at most
 * `burst` tokens, plus `min_per_s` tokens a second that refill whatever the traffic (so a
 * quiet caller can still retry). Retries are thus at most ratio x first attempts + min_per_s
 * x seconds + burst: a dependency in trouble is not hit by a retry storm. Backoff before
 * attempt k (k = 1 for the first retry): FULL jitter draws uniformly in [0, min(max_ms,
 * base_ms x 2^(k-1))]; DECORRELATED draws in [base_ms, min(max_ms, 3 x the previous delay)]
 * (AWS's "Exponential Backoff And Jitter"). Only a call its caller marks idempotent is
 * retried: a retry of a request that may have taken effect must be harmless. */
typedef enum tr_backoff_jitter {
    TR_BACKOFF_FULL = 0,
    TR_BACKOFF_DECORRELATED = 1
} tr_backoff_jitter;

typedef struct tr_retry_policy {
    uint32_t max_attempts; /* the first attempt included; 1..TR_RETRY_ATTEMPTS_MAX */
    uint32_t base_ms;      /* > 0 */
    uint32_t max_ms;       /* >= base_ms */
    tr_backoff_jitter jitter;
} tr_retry_policy;
#define TR_RETRY_ATTEMPTS_MAX 32
/* Defaults: 3 attempts, 50 ms base, 2 s cap, full jitter. */
void tr_retry_policy_init(tr_retry_policy *p);
/* The delay before attempt `attempt` (1 = the first retry; 1..TR_RETRY_ATTEMPTS_MAX) given the
 * previous delay (DECORRELATED; 0 before the first retry) and a random number (tr_random):
 * always within [0, max_ms] (FULL) or [base_ms, max_ms] (DECORRELATED). p must be valid. */
uint32_t tr_backoff_delay_ms(const tr_retry_policy *p, uint32_t attempt, uint32_t prev_ms,
                             uint64_t random);

typedef struct tr_retry_budget_config {
    double ratio;       /* tokens a first attempt deposits, in [0, 1]: 0.1 = retries <= 10% */
    uint32_t burst;     /* the bucket's capacity in tokens, > 0 */
    uint32_t min_per_s; /* tokens refilled a second whatever the traffic */
} tr_retry_budget_config;
/* Defaults: ratio 0.1, burst 10, min_per_s 1. */
void tr_retry_budget_config_init(tr_retry_budget_config *cfg);

typedef struct tr_retry_budget {
    tr_retry_budget_config cfg_;
    uint64_t milli_tokens_; /* tokens x 1000 */
    uint64_t refilled_at_ms_;
    uint64_t deposits_, retries_, refused_;
} tr_retry_budget;

typedef struct tr_retry_budget_status {
    double tokens;
    uint64_t deposits; /* first attempts counted */
    uint64_t retries;  /* retries the budget allowed */
    uint64_t refused;  /* retries it refused */
} tr_retry_budget_status;

/* TR_EINVAL for a bad config. The bucket starts full. */
int tr_retry_budget_init(tr_retry_budget *rb, const tr_retry_budget_config *cfg, uint64_t now_ms);
/* A first attempt was made: deposits ratio of a token. */
void tr_retry_budget_deposit(tr_retry_budget *rb, uint64_t now_ms);
/* 0 and one token taken: the retry may go; TR_EAGAIN: no token, the budget is spent. */
int tr_retry_budget_withdraw(tr_retry_budget *rb, uint64_t now_ms);
void tr_retry_budget_status_get(const tr_retry_budget *rb, uint64_t now_ms,
                                tr_retry_budget_status *out);

/* One call's retries: start it with tr_retry_start before the first attempt; after an attempt
 * that failed in a way worth retrying, tr_retry_next says whether to try again and after how
 * long (start a timer for *delay_ms, then send again). */
typedef struct tr_retry {
    const tr_retry_policy *policy_; /* borrowed */
    tr_retry_budget *budget_;       /* borrowed; may be NULL: no budget */
    uint32_t attempts_;             /* attempts made or granted so far */
    uint32_t prev_delay_ms_;
    bool idempotent_;
} tr_retry;

typedef enum tr_retry_verdict {
    TR_RETRY_AGAIN = 0,          /* retry after *delay_ms */
    TR_RETRY_NOT_IDEMPOTENT = 1, /* the caller did not mark the call idempotent */
    TR_RETRY_ATTEMPTS_SPENT = 2, /* max_attempts reached */
    TR_RETRY_DEADLINE = 3,       /* the delay would end at or past the deadline */
    TR_RETRY_BUDGET_SPENT = 4    /* the dependency's retry budget is empty */
} tr_retry_verdict;

/* policy (valid: see tr_retry_policy) and budget (may be NULL) are borrowed for the call's
 * life; a first attempt is deposited into the budget. */
void tr_retry_start(tr_retry *r, const tr_retry_policy *policy, tr_retry_budget *budget,
                    bool idempotent, uint64_t now_ms);
/* deadline_ms: the call's absolute deadline on this clock (tr_deadline), 0 for none. The
 * checks run in the verdicts' order (the budget last), so a budget token is taken only for
 * TR_RETRY_AGAIN. random: tr_random's, for the jitter. */
tr_retry_verdict tr_retry_next(tr_retry *r, uint64_t now_ms, uint64_t deadline_ms, uint64_t random,
                               uint32_t *delay_ms);
/* "again", "not-idempotent", "attempts-spent", "deadline", "budget-spent" (static). */
const char *tr_retry_verdict_name(tr_retry_verdict v);

/* ---- Deadlines, propagated hop by hop ----
 * A request carries the time it has left, in milliseconds, not an absolute time: nodes'
 * clocks differ, and a duration measured on one clock and applied on the next is immune to
 * their offset. Each hop turns what it received into an absolute deadline on its own clock
 * (tr_deadline_read), refuses at once (TR_ETIMEDOUT) work whose time is gone, and hands the
 * remainder to the next hop (tr_deadline_request_name), whose request timeout is that
 * remainder. The transit time of a message is not subtracted (no hop can measure it); a hop
 * that needs a margin asks for less.
 *
 * These functions carry the deadline in the body: a msgpack map of two entries,
 * {"deadline_ms": remaining (uint), "body": the request's own body (one msgpack value, as it
 * is)}, in that order. A receiver that does not use the convention sees a map; a body that is
 * not such a map carries no deadline. Protocol 2's envelope also has a deadline field, which
 * the runtime carries hop by hop (section "Trace context and deadlines": tr_deadline_set,
 * tr_msg_deadline_ms); these functions do not use it yet, so services written against them
 * keep working unchanged. */
#define TR_DEADLINE_WRAP_MAX 24 /* bytes the wrapper adds to a body, at most */

/* Writes the wrapper around body[0..len) (one msgpack value, borrowed) into buf[0..cap) and
 * sets *out_len. TR_ETOOBIG when cap < len + TR_DEADLINE_WRAP_MAX would not do, TR_EINVAL for
 * an empty body or one that is not exactly one msgpack value. */
int tr_deadline_wrap(void *buf, size_t cap, uint32_t remaining_ms, const void *body, size_t len,
                     size_t *out_len);
/* Reads a body: 0 with *remaining_ms and the inner body (*inner points into buf) when it is
 * a wrapper; TR_ENOENT when it is not one (a body without a deadline); TR_EPROTO when it
 * starts as one but is malformed (a wrong kind, trailing or missing bytes). */
int tr_deadline_unwrap(const void *buf, size_t len, uint32_t *remaining_ms, const uint8_t **inner,
                       size_t *inner_len);

/* A request's deadline as one hop sees it. */
typedef struct tr_deadline {
    bool has;            /* false: the request carried none (at_ms 0) */
    uint64_t at_ms;      /* the absolute deadline on this node's clock (tr_now_ms) */
    const uint8_t *body; /* the request's own body: into msg's body, valid as msg is */
    size_t body_len;
} tr_deadline;

/* The deadline of msg (borrowed), received now: 0 when there is time left, or none was given
 * (out->has false, out->body the whole body); TR_ETIMEDOUT when it carried 0 ms (the hop must
 * fail fast: answer at once, do no work); TR_EPROTO for a malformed wrapper. */
int tr_deadline_read(tr_ctx *ctx, const tr_msg *msg, tr_deadline *out);
/* Time left before at_ms on the same clock: at_ms - now_ms, or 0 once it has passed. */
uint64_t tr_deadline_remaining_ms(uint64_t at_ms, uint64_t now_ms);
/* tr_request_name with the deadline at_ms (this node's clock) carried to the next hop and as
 * the request's timeout: TR_ETIMEDOUT at once, nothing sent, when no time is left; otherwise
 * body (one msgpack value, borrowed, at most TR_DEADLINE_BODY_MAX bytes: else TR_ETOOBIG) is
 * wrapped with the remaining time and sent. */
#define TR_DEADLINE_BODY_MAX (64u << 10)
int tr_deadline_request_name(tr_ctx *ctx, const char *name, uint32_t type, uint64_t at_ms,
                             const void *body, size_t len, uint64_t *corr_out);

/* ------------------------------------------------------------------------------------ */
/* Topics: publish/subscribe across nodes, and a durable outbox (docs/pubsub.md)          */
/* ------------------------------------------------------------------------------------ */
/* A broker actor runs on every node under the name TR_TOPICS_NAME (a service lists
 * {TR_TOPICS_NAME, &tr_topics_broker, TR_PLACE_EVERY_NODE, NULL, NULL}; its state starts with
 * the tr_service_place it is spawned with). Each topic has a home broker, the node
 * FNV-1a(topic) mod node_count; every broker forwards the topic messages of other homes
 * there (tr_forward: the sender is kept). The home keeps the topic's subscriptions durably
 * (subscribers are named "name@node", so a subscriber restarted with a new address still
 * gets its events) and delivers each published event to every subscriber of the topic at
 * least once: it resends an event until the subscriber acks it (its resend tick is
 * TR_TOPICS_RESEND_MS; an event is resent after 2, 3, 5, then every 9 ticks without its acks,
 * and at once to a subscriber that subscribes again, which it does when it restarts), and
 * tells the publisher TR_TOPIC_MSG_PUBLISHED once every subscriber has.
 *
 * Slow subscribers: back-pressure. A home holds at most TR_TOPICS_QUEUE_MAX unacknowledged
 * events per subscriber and TR_TOPICS_PENDING_MAX in all; a publish that would exceed either
 * is refused (TR_TOPIC_MSG_REFUSED) and nothing of it is queued. Dropping the oldest event
 * would break at-least-once for an event the publisher's outbox already holds durably; a
 * refusal keeps the event where it is durable (the outbox retries it later) and bounds the
 * home's memory. The home's queues are volatile: a home that crashes forgets what it was
 * delivering and the outbox, which has not heard PUBLISHED, publishes it again.
 *
 * Wire (ordinary actor messages, msgpack bodies): SUBSCRIBE request [topic, subscriber]
 * answered with SUBSCRIBED [topic] once the subscription is durable; PUBLISH [topic, id,
 * body]; EVENT [topic, id, body, slot] to the subscriber; ACK [topic, id, slot] back;
 * PUBLISHED / REFUSED [topic, id] to the publisher. A malformed message is dropped and
 * counted. Limits: topics of at most TR_TOPIC_NAME_MAX bytes, subscriber names of at most
 * TR_NAME_MAX, bodies of at most TR_TOPIC_BODY_MAX, TR_TOPICS_SUBS_MAX subscriptions per home
 * (a subscription beyond: the reply is REFUSED). */
#define TR_TOPICS_NAME "topics"
#define TR_TOPIC_NAME_MAX 47
#define TR_TOPIC_BODY_MAX 1024
#define TR_TOPICS_SUBS_MAX 32
#define TR_TOPICS_PENDING_MAX 128
#define TR_TOPICS_QUEUE_MAX 16
#define TR_TOPICS_RESEND_MS 200

enum {
    TR_TOPIC_MSG_BASE = 0xFFFE7000u,
    TR_TOPIC_MSG_SUBSCRIBE = TR_TOPIC_MSG_BASE, /* request to the local broker */
    TR_TOPIC_MSG_SUBSCRIBED,                    /* its reply */
    TR_TOPIC_MSG_PUBLISH,                       /* to the local broker */
    TR_TOPIC_MSG_PUBLISHED,                     /* home -> publisher: every subscriber acked */
    TR_TOPIC_MSG_REFUSED,                       /* home -> publisher: full, retry later */
    TR_TOPIC_MSG_EVENT,                         /* home -> subscriber */
    TR_TOPIC_MSG_ACK,                           /* subscriber -> home */
    TR_TOPIC_MSG_STATS,                         /* request: answered with tr_topics_stats */
    TR_TOPIC_MSG_TICK,                          /* the broker's resend timer */
    TR_TOPIC_MSG_OUTBOX_TICK                    /* an outbox's retry timer */
};

/* Planted bugs, for checking the checks: a broker takes TR_TOPIC_BUG_UNBOUNDED when its
 * tr_service_place names the bug "topics-unbounded"; the others are set in their configs. */
enum {
    TR_TOPIC_BUG_UNBOUNDED = 1u << 0,      /* the home ignores TR_TOPICS_QUEUE_MAX */
    TR_TOPIC_BUG_NO_DEDUP = 1u << 1,       /* the subscriber's window remembers nothing */
    TR_OUTBOX_BUG_PUBLISH_EARLY = 1u << 2, /* the outbox publishes before the commit */
    TR_OUTBOX_BUG_VOLATILE = 1u << 3       /* the outbox keeps its records in memory only */
};

/* The broker's behaviour; its spawn argument is a tr_service_place. */
extern const tr_behaviour tr_topics_broker;

/* A home's figures (the STATS reply body: msgpack array of these in order). */
typedef struct tr_topics_stats {
    uint64_t subscriptions; /* of the topics this node is home of */
    uint64_t pending;       /* events being delivered */
    uint64_t delivered;     /* (event, subscriber) acks received */
    uint64_t resent;        /* EVENT messages sent again */
    uint64_t refused;       /* publishes refused (back-pressure) */
    uint64_t queue_high;    /* the most unacknowledged events one subscriber had */
    uint64_t bad_messages;  /* malformed topic messages dropped */
} tr_topics_stats;
int tr_topics_stats_read(const void *body, size_t len, tr_topics_stats *out);

/* Sends SUBSCRIBE [topic, subscriber] as a request to the local broker (tr_request: the
 * SUBSCRIBED reply or a TR_MSG_TIMEOUT arrives with *corr_out). subscriber is this actor's
 * registered name and node, "name@node". Subscribing twice is harmless. */
int tr_topic_subscribe(tr_ctx *ctx, const char *topic, const char *subscriber, uint32_t timeout_ms,
                       uint64_t *corr_out);
/* Sends PUBLISH to the local broker once, with no durability: an event that must not be lost
 * goes through an outbox (below). */
int tr_topic_publish(tr_ctx *ctx, const char *topic, uint64_t id, const void *body, size_t len);

/* The subscriber side: a window of the last TR_TOPIC_WINDOW (topic, id) pairs seen, kept in
 * the actor's state (volatile: a restarted subscriber starts with an empty one; one that
 * must see each event once across its own restarts keeps the ids it handled in its store).
 * Event ids are chosen by publishers and must be unique per topic. */
#define TR_TOPIC_WINDOW 256
typedef struct tr_topic_inbox {
    uint64_t seen_[TR_TOPIC_WINDOW][2];
    uint32_t next_, count_;
    uint32_t bugs;       /* TR_TOPIC_BUG_NO_DEDUP; 0 in production */
    uint64_t duplicates; /* events acked and dropped as seen */
} tr_topic_inbox;
/* An event as the subscriber sees it: topic and body point into the message (borrowed). */
typedef struct tr_topic_event {
    char topic[TR_TOPIC_NAME_MAX + 1];
    uint64_t id;
    const uint8_t *body;
    uint32_t body_len;
} tr_topic_event;
enum {
    TR_TOPIC_NEW = 1,
    TR_TOPIC_DUPLICATE = 2
};
/* Call first in receive. 0: not an EVENT (handle msg yourself); TR_TOPIC_NEW: *ev is an
 * event not seen while the window held: handle it, then tr_topic_ack(ctx, msg);
 * TR_TOPIC_DUPLICATE: seen, acked again here, to be ignored; TR_EPROTO: a malformed event
 * (dropped, not acked). */
int tr_topic_receive(tr_topic_inbox *in, tr_ctx *ctx, const tr_msg *msg, tr_topic_event *ev);
/* Acks the EVENT msg to its home once the writes this actor issued so far (its handling of
 * the event) are durable (tr_reply_durable; at once for an actor without a store), so that a
 * crash before the commit leaves the event unacked and it comes again. 0 or the send's error. */
int tr_topic_ack(tr_ctx *ctx, const tr_msg *msg);

/* The durable outbox, inside a publishing actor's state (spawned with a name: it uses the
 * store). tr_outbox_put writes the event under "outbox/<slot>" with the actor's other writes
 * of the callback (the state change it describes); once that commit is durable (TR_MSG_DURABLE) the outbox publishes it, resends it
 * every retry_ms until its home answers PUBLISHED, then deletes it. tr_outbox_init, after a
 * restart, finds the records left and publishes them again (at least once: subscribers
 * de-duplicate by id). The simulator commits the writes of one callback together; the real
 * engine's store writer may split them over two consecutive commits, so a crash between those
 * two can separate a state change from its event there (docs/pubsub.md, "Limits"). At most
 * TR_OUTBOX_MAX records: a put beyond is TR_EFULL (refuse the
 * request that wanted it: back-pressure reaches the client). */
#define TR_OUTBOX_MAX 64
typedef struct tr_outbox_config {
    const char *broker; /* the local broker's name; NULL: TR_TOPICS_NAME (copied) */
    uint32_t retry_ms;  /* 0: 500 */
    uint32_t bugs;      /* TR_OUTBOX_BUG_*; 0 in production */
} tr_outbox_config;
typedef struct tr_outbox_record_ {
    uint8_t state; /* 0 free, 1 written, 2 committed */
    uint16_t body_len;
    uint64_t id, token;
    char topic[TR_TOPIC_NAME_MAX + 1];
    uint8_t body[TR_TOPIC_BODY_MAX];
    uint8_t refused; /* its home refused its last publish (published again on a PUBLISHED) */
} tr_outbox_record_;
typedef struct tr_outbox {
    tr_outbox_config cfg_;
    char broker_[TR_NAME_MAX + 1];
    tr_outbox_record_ rec_[TR_OUTBOX_MAX];
    uint64_t timer_;
    uint64_t published; /* PUBLISHED answers received for records held */
    uint64_t refused;   /* REFUSED answers (retried later) */
} tr_outbox;
/* From the actor's init: recovers the records, publishes them, starts the retry timer.
 * TR_EINVAL (bad config), TR_ENOTSUP (no store), TR_ECORRUPT (a record it cannot read). */
int tr_outbox_init(tr_outbox *ob, tr_ctx *ctx, const tr_outbox_config *cfg);
/* From a handler: stores the event (body copied; at most TR_TOPIC_BODY_MAX bytes) with the
 * callback's other writes. 0; TR_EFULL; TR_EEXIST (this (topic, id) is held already);
 * TR_EINVAL; or the store's error. */
int tr_outbox_put(tr_outbox *ob, tr_ctx *ctx, const char *topic, uint64_t id, const void *body,
                  size_t len);
/* Call first in receive: 1 when msg was the outbox's (handled), 0 otherwise. */
int tr_outbox_receive(tr_outbox *ob, tr_ctx *ctx, const tr_msg *msg);
/* Records not yet answered PUBLISHED. */
uint32_t tr_outbox_pending(const tr_outbox *ob);

/* ------------------------------------------------------------------------------------ */
/* Trace context and deadlines (docs/wire-protocol.md, section 4)                         */
/* ------------------------------------------------------------------------------------ */
/* Every message carries a trace context (tr_msg.trace, a W3C traceparent: trace id, parent
 * span id, flags) and a deadline, both in the envelope. A message an actor sends while
 * handling a message inherits them: the same trace id, as parent span the span of the
 * activation handling the message (tr_trace_span_of), the same flags and the same absolute
 * deadline. Replies carry the request's trace id with the replier's span as parent and no
 * deadline. On the wire the deadline is the time left in milliseconds (u32, 0 = none), which
 * each node turns into an absolute time on its own clock when the message arrives: clock
 * offsets between nodes do not matter; transit time is not subtracted. The runtime carries
 * the deadline and never enforces it: a handler reads it (tr_msg_deadline_ms) and decides. */
#define TR_TRACE_SAMPLED 0x01u

/* True when t carries a trace (its id is not all zero). */
bool tr_trace_is_set(const tr_trace *t);
/* The span id of the activation that handles msg (borrowed): derived from msg's trace, its
 * receiver, sender and correlation id, so every node computes the same id for it; all zero when
 * msg carries no trace. */
void tr_trace_span_of(const tr_msg *msg, uint8_t out[8]);
/* The trace context the messages sent from now on in this callback carry: the handled
 * message's trace id and flags with this activation's span as parent, or what
 * tr_trace_start / tr_trace_set chose. All zero when there is none. */
void tr_trace_current(tr_ctx *ctx, tr_trace *out);
/* Starts a new trace for the messages sent from now on in this callback: a fresh trace id
 * and span id from the node's random source (seeded in the simulator), with `flags`.
 * TR_EINVAL for a NULL ctx. */
int tr_trace_start(tr_ctx *ctx, uint8_t flags);
/* Adopts a trace context given from outside (a traceparent header) for the messages sent from
 * now on in this callback; an all-zero id sends them without a trace. */
int tr_trace_set(tr_ctx *ctx, const tr_trace *t);
/* Writes t as a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>", 55 bytes and a NUL) into
 * out[0..cap): TR_ETOOBIG when cap < 56. */
int tr_trace_format(const tr_trace *t, char *out, size_t cap);
/* Parses a W3C traceparent of version 00: TR_EINVAL when malformed (or an all-zero id). */
int tr_trace_parse(const char *text, tr_trace *out);

/* The time msg (borrowed) has left on this node's clock, in ms: 0 once its deadline has
 * passed; *has (when not NULL) tells whether it carries a deadline at all (0 if not). */
uint64_t tr_msg_deadline_ms(tr_ctx *ctx, const tr_msg *msg, bool *has);
/* Sets the deadline of the messages sent from now on in this callback to `ms` from now (0:
 * none: they carry no deadline, even if the handled message had one). TR_EINVAL for a NULL
 * ctx or ms above UINT32_MAX. */
int tr_deadline_set(tr_ctx *ctx, uint64_t ms);

/* Errors that arrive at once. A user request (tr_request*, tr_inbox_request, a client's
 * request) that cannot reach an actor is not left to time out: the node that finds out
 * answers it at once with TR_MSG_TIMEOUT as a reply (the request's corr, tr_msg_is_reply
 * true, the request's timeout cancelled) whose body is the msgpack int
 *   TR_ENOPROC    no actor is registered under the name on the node it was sent to (local
 *                 or on arrival from another node; Erlang's noproc);
 *   TR_ENODEDOWN  the node it was sent to is known down or unreachable from the sender's node.
 * tr_inbox_request returns that code. Plain sends are still dead letters, answered by no one. */
/* For a TR_MSG_TIMEOUT: TR_ETIMEDOUT when it is a timeout, else the code it carries (a
 * negative TR_E code); 0 for any other message. */
int tr_msg_request_error(const tr_msg *msg);

/* ------------------------------------------------------------------------------------ */
/* Spans of a simulated run (docs/tracing.md, "Simulated runs")                           */
/* ------------------------------------------------------------------------------------ */
/* What an experiment with tr_experiment_config.spans writes (`troupe sim --spans FILE`):
 * every client operation starts a trace (ids from a stream of the seed's own, not flagged
 * sampled); a fraction `sample` of the traces, chosen by trace id, is recorded on every node,
 * one span per activation that handles one of their messages, and written as one JSON array
 * of Zipkin v2 spans, times in virtual microseconds. The same seed and options give the same
 * file byte for byte, and the run (its trace hash included) is the same with or without
 * spans. At most 262144 spans are written. Each run truncates the file; a sweep, a
 * determinism check and a shrink write none. A file that cannot be created fails the run
 * (TR_EIO). */
typedef struct tr_sim_spans_spec {
    const char *path; /* created or truncated; borrowed */
    double sample;    /* 0..1: the fraction of the traces recorded */
} tr_sim_spans_spec;

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* TROUPE_H */
