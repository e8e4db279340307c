/*
 * supervisor.c — OTP supervisors as ordinary actors on the public API.
 *
 * A supervisor starts its children in order in init, monitors each one, and when a child
 * stops applies the child's restart type (permanent / transient / temporary) and the
 * supervisor's strategy (one_for_one / one_for_all / rest_for_one), within a restart
 * intensity: more than max_restarts restarts within window_ms and it gives up, stops every
 * child in reverse order and fails with TR_ESHUTDOWN, which its own supervisor or monitors
 * see (escalation).
 *
 * Apart from bumping the node's restart counter (tr_stats.restarts), it uses troupe.h only.
 *
 * Asynchronous OTP. tr_stop is asynchronous, so the supervisor never starts a new instance
 * of a child while an old instance it stopped may still run (they would fight over the
 * registered name and over the durable state keyed by it). Children to stop are marked
 * want_stop and stopped one at a time, highest index first, each after the previous one's
 * TR_MSG_DOWN arrived; only when no child is stopping are the children marked want_start
 * started, lowest index first. The same sequence gives up: stop all in reverse, then fail.
 *
 * Invariants:
 *   - at most one child is CHILD_STOPPING at a time (except while the supervisor itself goes
 *     away: its failed init and its terminate stop every running child at once);
 *   - a TR_MSG_DOWN is acted upon only if its corr is the monitor of the child's current
 *     instance, so the death of an instance the supervisor replaced or stopped itself is
 *     never mistaken for a new failure (no restart cascades);
 *   - a finished child (temporary, or transient that ended normally) is never started again.
 *
 * Ownership: tr_spawn_supervisor flattens the spec into one self-contained byte string (the
 * spawn arg, which the runtime copies); init copies it once more into the supervisor's own
 * memory, freed in terminate. Behaviours stay borrowed. Threading: everything here runs in
 * the supervisor's callbacks, which never run concurrently.
 *
 * Limits: TR_SUP_CHILDREN_MAX children, TR_SUP_RESTARTS_MAX for max_restarts (the window
 * keeps one timestamp per allowed restart).
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "runtime/internal.h" /* only for the node's restart counter (tr_stats) */
#include "troupe.h"

#define FLAT_MAGIC 0x70737274u /* "trsp" */
#define FLAT_SIZE_MAX (1u << 30)

/* ---- The flat spec ----------------------------------------------------------------------- */

typedef struct flat_header {
    uint32_t magic;
    uint32_t strategy;
    uint32_t max_restarts;
    uint32_t window_ms;
    uint32_t child_count;
    uint32_t reserved;
} flat_header;

typedef struct flat_child {
    const tr_behaviour *behaviour;
    uint64_t name_off; /* 0 = anonymous; else offset of a NUL-terminated name */
    uint64_t arg_off;
    uint64_t arg_len;
    uint32_t restart;
    uint32_t mailbox_capacity;
    uint32_t overflow;
    uint32_t reserved;
} flat_child;

static bool valid_child(const tr_child_spec *c) {
    if (c->behaviour == NULL || (c->arg == NULL && c->arg_len > 0)) {
        return false;
    }
    if ((unsigned)c->restart > TR_TEMPORARY || (unsigned)c->overflow > TR_OVERFLOW_DROP) {
        return false;
    }
    if (c->name == NULL) {
        return true;
    }
    return c->name[0] != '\0' && strnlen(c->name, TR_NAME_MAX + 1) <= TR_NAME_MAX;
}

/* TR_EINVAL for a spec the supervisor could never run; sets *size to its flat size. */
static int validate_spec(const tr_sup_spec *spec, size_t *size) {
    if (spec == NULL || (unsigned)spec->strategy > TR_REST_FOR_ONE ||
        spec->max_restarts > TR_SUP_RESTARTS_MAX || spec->child_count > TR_SUP_CHILDREN_MAX ||
        (spec->children == NULL && spec->child_count > 0)) {
        return TR_EINVAL;
    }
    size_t n = sizeof(flat_header) + spec->child_count * sizeof(flat_child);
    for (size_t i = 0; i < spec->child_count; i++) {
        const tr_child_spec *c = &spec->children[i];
        if (!valid_child(c)) {
            return TR_EINVAL;
        }
        for (size_t j = 0; c->name != NULL && j < i; j++) {
            const char *other = spec->children[j].name;
            if (other != NULL && strcmp(other, c->name) == 0) {
                return TR_EINVAL; /* the second could never register */
            }
        }
        size_t more = (c->name ? strlen(c->name) + 1 : 0);
        if (c->arg_len > FLAT_SIZE_MAX || n + more + c->arg_len > FLAT_SIZE_MAX) {
            return TR_ETOOBIG;
        }
        n += more + c->arg_len;
    }
    *size = n;
    return 0;
}

/* *out (owned, free()) = the flat copy of spec, *len its size. */
static int flatten(const tr_sup_spec *spec, uint8_t **out, size_t *len) {
    size_t size;
    int rc = validate_spec(spec, &size);
    if (rc != 0) {
        return rc;
    }
    uint8_t *blob = malloc(size);
    if (blob == NULL) {
        return TR_ENOMEM;
    }
    flat_header h = {FLAT_MAGIC,
                     spec->strategy,
                     spec->max_restarts,
                     spec->window_ms,
                     (uint32_t)spec->child_count,
                     0};
    memcpy(blob, &h, sizeof h);
    size_t pos = sizeof h + spec->child_count * sizeof(flat_child);
    for (size_t i = 0; i < spec->child_count; i++) {
        const tr_child_spec *c = &spec->children[i];
        flat_child f = {c->behaviour,        0,           pos, c->arg_len, c->restart,
                        c->mailbox_capacity, c->overflow, 0};
        if (c->arg_len > 0) {
            memcpy(blob + pos, c->arg, c->arg_len);
            pos += c->arg_len;
        }
        if (c->name != NULL) {
            size_t name_size = strlen(c->name) + 1;
            f.name_off = pos;
            memcpy(blob + pos, c->name, name_size);
            pos += name_size;
        }
        memcpy(blob + sizeof h + i * sizeof f, &f, sizeof f);
    }
    TR_ASSERT(pos == size);
    *out = blob;
    *len = size;
    return 0;
}

/* ---- The supervisor's memory ------------------------------------------------------------- */

typedef enum child_state {
    CHILD_DOWN,
    CHILD_RUNNING,
    CHILD_STOPPING
} child_state;

typedef struct sup_child {
    const tr_behaviour *behaviour;
    const char *name; /* into the blob; NULL = anonymous */
    const void *arg;
    size_t arg_len;
    tr_restart restart;
    uint32_t mailbox_capacity;
    tr_overflow overflow;
    child_state state;
    tr_addr addr;    /* the current instance, or the last one once DOWN */
    uint64_t ref;    /* our monitor of addr */
    bool finished;   /* never start again */
    bool want_start; /* start once no child is stopping */
    bool want_stop;  /* stop, highest index first, one at a time */
} sup_child;

typedef struct sup {
    tr_strategy strategy;
    uint32_t max_restarts;
    uint32_t window_ms;
    size_t child_count;
    sup_child *children;
    uint64_t *restarts_ms; /* ring of recent restart times, capacity max(1, max_restarts) */
    uint32_t restart_head; /* the oldest */
    uint32_t restart_count;
    bool shutting_down;
    uint8_t *blob;
} sup;

typedef struct sup_state {
    sup *s;
} sup_state;

static void sup_free(sup *s) {
    if (s != NULL) {
        free(s->children);
        free(s->restarts_ms);
        free(s->blob);
        free(s);
    }
}

/* Reads child i of a flat spec of `len` bytes, checking every offset: the arg may have been
 * passed by hand to the supervisor behaviour (tr_child_spec_supervisor_init is the normal way). */
static bool parse_child(const uint8_t *blob, size_t len, size_t i, sup_child *c) {
    flat_child f;
    memcpy(&f, blob + sizeof(flat_header) + i * sizeof f, sizeof f);
    if (f.behaviour == NULL || f.restart > TR_TEMPORARY || f.overflow > TR_OVERFLOW_DROP ||
        f.arg_off > len || f.arg_len > len - f.arg_off || f.name_off >= len) {
        return false;
    }
    if (f.name_off != 0) {
        const char *name = (const char *)blob + f.name_off;
        size_t max = len - f.name_off;
        if (strnlen(name, max) == max || strlen(name) > TR_NAME_MAX) {
            return false;
        }
        c->name = name;
    }
    c->behaviour = f.behaviour;
    c->arg = blob + f.arg_off;
    c->arg_len = f.arg_len;
    c->restart = (tr_restart)f.restart;
    c->mailbox_capacity = f.mailbox_capacity;
    c->overflow = (tr_overflow)f.overflow;
    return true;
}

static int sup_parse(const void *arg, size_t len, sup **out) {
    flat_header h;
    if (arg == NULL || len < sizeof h) {
        return TR_EINVAL;
    }
    memcpy(&h, arg, sizeof h);
    if (h.magic != FLAT_MAGIC || h.strategy > TR_REST_FOR_ONE ||
        h.max_restarts > TR_SUP_RESTARTS_MAX || h.child_count > TR_SUP_CHILDREN_MAX ||
        (len - sizeof h) / sizeof(flat_child) < h.child_count) {
        return TR_EINVAL;
    }
    sup *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return TR_ENOMEM;
    }
    s->strategy = (tr_strategy)h.strategy;
    s->max_restarts = h.max_restarts;
    s->window_ms = h.window_ms;
    s->child_count = h.child_count;
    s->blob = malloc(len);
    s->children = calloc(h.child_count ? h.child_count : 1, sizeof *s->children);
    s->restarts_ms = calloc(h.max_restarts ? h.max_restarts : 1, sizeof *s->restarts_ms);
    if (s->blob == NULL || s->children == NULL || s->restarts_ms == NULL) {
        sup_free(s);
        return TR_ENOMEM;
    }
    memcpy(s->blob, arg, len);
    for (size_t i = 0; i < s->child_count; i++) {
        if (!parse_child(s->blob, len, i, &s->children[i])) {
            sup_free(s);
            return TR_EINVAL;
        }
    }
    *out = s;
    return 0;
}

/* ---- Children ---------------------------------------------------------------------------- */

static int start_child(tr_ctx *ctx, sup_child *c) {
    TR_ASSERT(c->state == CHILD_DOWN && !c->finished);
    /* The registry lets a new actor take a name whose holder is dead, and an old instance's
     * death removes its name only while the name still points to it: the new instance keeps
     * the name. We only start after the old instance's TR_MSG_DOWN, i.e. after it died. */
    tr_spawn_opts opts = {
        .name = c->name, .mailbox_capacity = c->mailbox_capacity, .overflow = c->overflow};
    tr_addr addr;
    int rc = tr_spawn(ctx, c->behaviour, &opts, c->arg, c->arg_len, &addr);
    if (rc != 0) {
        return rc;
    }
    c->addr = addr;
    rc = tr_monitor(ctx, addr, &c->ref);
    if (rc != 0) {
        (void)tr_stop(ctx, addr, TR_ESHUTDOWN); /* unsupervised is worse than not started */
        return rc;
    }
    c->state = CHILD_RUNNING;
    return 0;
}

static void stop_child(tr_ctx *ctx, sup_child *c, int reason) {
    TR_ASSERT(c->state == CHILD_RUNNING);
    /* Even if tr_stop fails (the child died meanwhile), its TR_MSG_DOWN is on its way. */
    (void)tr_stop(ctx, c->addr, reason);
    c->state = CHILD_STOPPING;
}

/* ---- Restart intensity ------------------------------------------------------------------- */

/* Records a restart at now_ms. Returns false, recording nothing, if it would be the
 * (max_restarts + 1)-th within window_ms: the supervisor must give up. */
static bool allow_restart(sup *s, uint64_t now_ms) {
    uint32_t cap = s->max_restarts ? s->max_restarts : 1;
    while (s->restart_count > 0 && now_ms - s->restarts_ms[s->restart_head] > s->window_ms) {
        s->restart_head = (s->restart_head + 1) % cap;
        s->restart_count--;
    }
    if (s->restart_count >= s->max_restarts) {
        return false;
    }
    s->restarts_ms[(s->restart_head + s->restart_count) % cap] = now_ms;
    s->restart_count++;
    TR_ASSERT(s->restart_count <= s->max_restarts);
    return true;
}

/* ---- The state machine ------------------------------------------------------------------- */

static void begin_shutdown(sup *s) {
    s->shutting_down = true;
    for (size_t i = 0; i < s->child_count; i++) {
        s->children[i].want_start = false;
        s->children[i].want_stop = s->children[i].state == CHILD_RUNNING;
    }
}

/* Child i failed (stopped with a reason that calls for a restart, or could not be started):
 * mark what the strategy restarts, or give up. */
static void on_failure(tr_ctx *ctx, sup *s, size_t i) {
    if (!allow_restart(s, tr_now_ms(ctx))) {
        begin_shutdown(s);
        return;
    }
    size_t first = s->strategy == TR_ONE_FOR_ALL ? 0 : i;
    size_t last = s->strategy == TR_ONE_FOR_ONE ? i + 1 : s->child_count;
    for (size_t j = first; j < last; j++) {
        sup_child *c = &s->children[j];
        if (j != i && c->restart == TR_TEMPORARY) {
            c->finished = true; /* a temporary sibling is stopped, never restarted (OTP) */
        }
        c->want_start = !c->finished;
        c->want_stop = c->state == CHILD_RUNNING;
    }
}

/* The current instance of child i stopped with `reason`. */
static void on_child_down(tr_ctx *ctx, sup *s, size_t i, int reason) {
    sup_child *c = &s->children[i];
    bool stopped_by_us = c->state == CHILD_STOPPING;
    c->state = CHILD_DOWN;
    c->want_stop = false;
    if (stopped_by_us || s->shutting_down || c->want_start) {
        return; /* already part of a restart or of the shutdown */
    }
    if (c->restart == TR_TEMPORARY || (c->restart == TR_TRANSIENT && reason == 0)) {
        c->finished = true;
        return;
    }
    on_failure(ctx, s, i);
}

/* Stops the next marked child (highest index first) and returns if one is stopping. */
static bool stop_next(tr_ctx *ctx, sup *s) {
    for (size_t i = 0; i < s->child_count; i++) {
        if (s->children[i].state == CHILD_STOPPING) {
            return true; /* wait for its TR_MSG_DOWN */
        }
    }
    for (size_t i = s->child_count; i-- > 0;) {
        sup_child *c = &s->children[i];
        if (c->want_stop && c->state == CHILD_RUNNING) {
            c->want_stop = false;
            stop_child(ctx, c, s->shutting_down ? TR_ESHUTDOWN : TR_EKILLED);
            return true;
        }
        c->want_stop = false;
    }
    return false;
}

/* tr_stats.restarts: the one thing the public API cannot reach. */
static void count_restart(tr_ctx *ctx) {
    /* relaxed: a statistic, ordered with nothing */
    atomic_fetch_add_explicit(&tr_ctx_node(ctx)->st_restarts, 1, memory_order_relaxed);
}

/* Moves the state machine as far as it goes without waiting for a message. Returns 0, or
 * TR_ESHUTDOWN once the supervisor has given up and every child is stopped. */
static int advance(tr_ctx *ctx, sup *s) {
    /* Synchronous start failures each count as a restart, but with a short window the clock
     * could expire them as fast as they happen: bound the attempts of this call too. */
    uint32_t attempts = 0;
    for (;;) {
        if (stop_next(ctx, s)) {
            return 0;
        }
        if (s->shutting_down) {
            return TR_ESHUTDOWN;
        }
        bool failed = false;
        for (size_t i = 0; i < s->child_count && !failed; i++) {
            sup_child *c = &s->children[i];
            if (c->want_start) {
                c->want_start = false;
                if (c->finished) {
                    continue;
                }
                if (start_child(ctx, c) != 0) {
                    on_failure(ctx, s, i); /* counts: a child that cannot start ends it */
                    failed = true;
                } else {
                    count_restart(ctx);
                }
            }
        }
        if (!failed) {
            return 0;
        }
        if (++attempts > s->max_restarts) {
            begin_shutdown(s);
        }
    }
}

/* TR_MSG_DOWN's body is a msgpack int (the core packs a fixint or an int64); anything
 * else counts as a failure, so a malformed reason can only cause a restart. */
static int down_reason(const tr_msg *msg) {
    const uint8_t *p = msg->body;
    uint32_t len = msg->body_len;
    if (len == 0) {
        return TR_EFAILED;
    }
    if (len == 1 && (p[0] <= 0x7f || p[0] >= 0xe0)) {
        return (int8_t)p[0];
    }
    uint32_t n = 0;
    bool is_signed = p[0] >= 0xd0 && p[0] <= 0xd3;
    if (is_signed || (p[0] >= 0xcc && p[0] <= 0xcf)) {
        n = 1u << (p[0] & 0x03); /* 1, 2, 4, 8 bytes */
    }
    if (n == 0 || len != 1 + n) {
        return TR_EFAILED;
    }
    uint64_t u = 0;
    for (uint32_t i = 0; i < n; i++) {
        u = (u << 8) | p[1 + i];
    }
    int64_t v = (int64_t)u;
    if (is_signed && n < 8 && (u >> (8 * n - 1)) != 0) {
        v = (int64_t)(u | (UINT64_MAX << (8 * n))); /* sign-extend */
    }
    if ((!is_signed && u > INT32_MAX) || v < INT32_MIN || v > INT32_MAX) {
        return TR_EFAILED;
    }
    return (int)v;
}

/* ---- The behaviour ----------------------------------------------------------------------- */

static void stop_started(tr_ctx *ctx, sup *s, int reason) {
    for (size_t i = s->child_count; i-- > 0;) {
        if (s->children[i].state == CHILD_RUNNING) {
            stop_child(ctx, &s->children[i], reason);
        }
    }
}

static int sup_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    sup_state *st = state;
    sup *s;
    int rc = sup_parse(arg, arg_len, &s);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < s->child_count; i++) {
        rc = start_child(ctx, &s->children[i]);
        if (rc != 0) {
            stop_started(ctx, s, TR_ESHUTDOWN); /* OTP: a child that cannot start fails init */
            sup_free(s);
            return rc;
        }
    }
    st->s = s;
    return 0;
}

static int sup_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    sup *s = ((sup_state *)state)->s;
    TR_ASSERT(s != NULL); /* init succeeded */
    if (msg->type != TR_MSG_DOWN) {
        return TR_CONTINUE; /* a supervisor takes no requests */
    }
    for (size_t i = 0; i < s->child_count; i++) {
        sup_child *c = &s->children[i];
        if (c->state != CHILD_DOWN && c->ref == msg->corr && tr_addr_eq(c->addr, msg->from)) {
            on_child_down(ctx, s, i, down_reason(msg));
            return advance(ctx, s) == TR_ESHUTDOWN ? TR_ESHUTDOWN : TR_CONTINUE;
        }
    }
    return TR_CONTINUE; /* an instance we already replaced or stopped */
}

static void sup_terminate(tr_ctx *ctx, void *state, int reason) {
    sup_state *st = state;
    if (st->s == NULL) {
        return; /* init failed and cleaned up */
    }
    stop_started(ctx, st->s, reason == 0 ? 0 : TR_ESHUTDOWN);
    sup_free(st->s);
    st->s = NULL;
}

static const tr_behaviour sup_behaviour = {
    .name = "supervisor",
    .state_size = sizeof(sup_state),
    .init = sup_init,
    .receive = sup_receive,
    .terminate = sup_terminate,
};

/* ---- Public API -------------------------------------------------------------------------- */

static tr_spawn_opts sup_opts(const tr_spawn_opts *opts) {
    tr_spawn_opts o = opts ? *opts : (tr_spawn_opts){0};
    o.trap_exit = false; /* it learns of its children through monitors */
    /* A bounded mailbox could refuse a child's TR_MSG_DOWN (the core bounds them like any
     * message) and the child would never be restarted. Supervisors get little other mail. */
    o.mailbox_capacity = 0;
    return o;
}

int tr_node_spawn_supervisor(tr_node *node, const tr_sup_spec *spec, const tr_spawn_opts *opts,
                             tr_addr *out) {
    TR_ASSERT(node != NULL);
    uint8_t *blob;
    size_t len;
    int rc = flatten(spec, &blob, &len);
    if (rc != 0) {
        return rc;
    }
    tr_spawn_opts o = sup_opts(opts);
    rc = tr_node_spawn(node, &sup_behaviour, &o, blob, len, out);
    free(blob); /* the spawn copied it */
    return rc;
}

/* From inside an actor: the same spawn on the actor's own node. */
int tr_spawn_supervisor(tr_ctx *ctx, const tr_sup_spec *spec, const tr_spawn_opts *opts,
                        tr_addr *out) {
    TR_ASSERT(ctx != NULL);
    return tr_node_spawn_supervisor(tr_ctx_node(ctx), spec, opts, out);
}

int tr_child_spec_supervisor_init(tr_child_spec *child, const char *name, tr_restart restart,
                                  const tr_sup_spec *spec) {
    TR_ASSERT(child != NULL);
    uint8_t *blob;
    size_t len;
    int rc = flatten(spec, &blob, &len);
    if (rc != 0) {
        return rc;
    }
    *child = (tr_child_spec){
        .name = name, .behaviour = &sup_behaviour, .arg = blob, .arg_len = len, .restart = restart};
    return 0;
}

void tr_child_spec_deinit(tr_child_spec *child) {
    TR_ASSERT(child != NULL);
    if (child->behaviour == &sup_behaviour) {
        free((void *)child->arg);
        child->arg = NULL;
        child->arg_len = 0;
    }
}
