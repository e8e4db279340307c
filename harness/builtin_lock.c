/* builtin_lock.c — the lock service's descriptor, workload and check (builtin_lock.h). Built
 * with TR__BUILTIN_MODULE (harness/builtin_module.c) it is also troupe-lock.so. */
#include "harness/builtin_lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/lock.h"

#define MS ((uint64_t)1000000)
#define HOLD_MIN_MS 1000
#define HOLD_MAX_MS 12000
#define RENEW_EVERY_MS (TR_LOCK_LEASE_MS / 3)
#define RETRY_MIN_MS 100 /* after a refused acquire, the next one in [min, max) ms */
#define RETRY_MAX_MS 1000

/* ---- the workload ---------------------------------------------------------------------- */

typedef enum pending {
    P_NONE = 0,
    P_ACQUIRE,
    P_RENEW,
    P_RELEASE
} pending;

/* A client's own memory (tr_workload_client.state), zeroed at the start of the run. */
typedef struct client_state {
    bool holding;
    uint8_t pending;
    int64_t lock;
    int64_t token;
    uint64_t sent_ns;       /* when the pending request left */
    uint64_t hold_until_ns; /* release from then on */
    uint64_t renew_due_ns;  /* renew from then on */
    uint64_t trust_end_ns;  /* the lease the client may trust ends then */
    uint64_t retry_ns;      /* not holding: the next acquire from then on */
    char error[48];
} client_state;

static int send_op(tr_workload_client *cl, client_state *s, uint8_t what, tr_workload_op *op,
                   uint32_t *type, const char **target, tr_mp_writer *w) {
    static const char *const f[] = {"", "acquire", "renew", "release"};
    static const uint32_t types[] = {0, TR_LOCK_ACQUIRE, TR_LOCK_RENEW, TR_LOCK_RELEASE};
    bool with_token = what != P_ACQUIRE;
    tr_mp_write_array(w, 1 + with_token);
    tr_mp_write_int(w, s->lock);
    if (with_token) {
        tr_mp_write_int(w, s->token);
    }
    *op = (tr_workload_op){
        .f = f[what], .key = s->lock, .has_value = with_token, .value = with_token ? s->token : 0};
    *type = types[what];
    *target = "lock";
    s->pending = what;
    s->sent_ns = cl->now_ns;
    return w->err;
}

static int lock_next(tr_workload_client *cl, tr_workload_op *op, uint32_t *type,
                     const char **target, tr_mp_writer *w) {
    client_state *s = cl->state;
    if (!s->holding) {
        if (cl->phase != TR_WORKLOAD_RUNNING) {
            return TR_ENOENT;
        }
        if (cl->now_ns < s->retry_ns) {
            cl->wait_ns = s->retry_ns - cl->now_ns;
            return TR_EAGAIN;
        }
        uint32_t locks = cl->key_count < TR_LOCK_LOCKS_MAX ? cl->key_count : TR_LOCK_LOCKS_MAX;
        s->lock = (int64_t)tr_sim_rng_below(cl->rng, locks ? locks : 1);
        return send_op(cl, s, P_ACQUIRE, op, type, target, w);
    }
    if (cl->phase != TR_WORKLOAD_RUNNING || cl->now_ns >= s->hold_until_ns ||
        cl->now_ns >= s->trust_end_ns) {
        return send_op(cl, s, P_RELEASE, op, type, target, w);
    }
    if (cl->now_ns >= s->renew_due_ns) {
        return send_op(cl, s, P_RENEW, op, type, target, w);
    }
    uint64_t next = s->hold_until_ns < s->renew_due_ns ? s->hold_until_ns : s->renew_due_ns;
    cl->wait_ns = next - cl->now_ns;
    return TR_EAGAIN;
}

/* The reply: an integer (the token: ok) or a string (refused: fail, with it as the error). */
static tr_history_type reply_type(client_state *s, const tr_msg *reply, int64_t *token,
                                  const char **error) {
    tr_mp_reader r;
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    if (tr_mp_peek(&r) == TR_MP_INT && tr_mp_read_int(&r, token) == 0) {
        return TR_HISTORY_OK;
    }
    if (tr_mp_peek(&r) == TR_MP_STR && tr_mp_read_str_copy(&r, s->error, sizeof s->error) == 0) {
        *error = s->error;
        return TR_HISTORY_FAIL;
    }
    *error = "malformed reply";
    return TR_HISTORY_INFO;
}

static tr_history_type lock_complete(tr_workload_client *cl, const tr_workload_op *op,
                                     const tr_msg *reply, int err, tr_workload_op *done,
                                     const char **error) {
    client_state *s = cl->state;
    int64_t token = 0;
    tr_history_type t = TR_HISTORY_INFO;
    *done = *op;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : err == TR_ECLOSED ? "crashed" : "send refused";
    } else {
        t = reply_type(s, reply, &token, error);
    }
    uint64_t lease_end = s->sent_ns + TR_LOCK_LEASE_MS * MS;
    switch (s->pending) {
    case P_ACQUIRE:
        if (t == TR_HISTORY_OK) {
            s->holding = true;
            s->token = token;
            s->trust_end_ns = lease_end;
            s->renew_due_ns = s->sent_ns + RENEW_EVERY_MS * MS;
            s->hold_until_ns =
                cl->now_ns +
                (HOLD_MIN_MS + tr_sim_rng_below(cl->rng, HOLD_MAX_MS - HOLD_MIN_MS)) * MS;
            done->has_value = true;
            done->value = token;
        } else {
            s->retry_ns =
                cl->now_ns +
                (RETRY_MIN_MS + tr_sim_rng_below(cl->rng, RETRY_MAX_MS - RETRY_MIN_MS)) * MS;
        }
        break;
    case P_RENEW:
        if (t == TR_HISTORY_OK) {
            s->trust_end_ns = lease_end;
            s->renew_due_ns = s->sent_ns + RENEW_EVERY_MS * MS;
        } else if (t == TR_HISTORY_FAIL) {
            s->holding = false; /* the lock is lost: nothing to release */
        }
        break;
    default: s->holding = false; break;
    }
    s->pending = P_NONE;
    return t;
}

static bool lock_busy(const tr_workload_client *cl) {
    const client_state *s = cl->state;
    return cl->phase == TR_WORKLOAD_STOPPING && s->holding;
}

static const tr_workload lock_workload = {.client_state_size = sizeof(client_state),
                                          .client_next = lock_next,
                                          .client_complete = lock_complete,
                                          .client_busy = lock_busy};

/* ---- the check: one owner at a time ---------------------------------------------------- */

typedef struct span {
    int64_t lock, token;
    int64_t start_ns, end_ns;
} span;

typedef struct invoke {
    int64_t process; /* the slot is free when used is false */
    bool used;
    tr_history_op op;
} invoke;

static int by_lock_token(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->lock != y->lock) {
        return x->lock < y->lock ? -1 : 1;
    }
    if (x->token != y->token) {
        return x->token < y->token ? -1 : 1;
    }
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

static int by_lock_start(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->lock != y->lock) {
        return x->lock < y->lock ? -1 : 1;
    }
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

/* The slot of `process` in an open-addressing table of cap (a power of two) slots. */
static invoke *slot(invoke *t, size_t cap, int64_t process) {
    size_t i = (size_t)((uint64_t)process * 0x9e3779b97f4a7c15ull >> 32) & (cap - 1);
    while (t[i].used && t[i].process != process) {
        i = (i + 1) & (cap - 1);
    }
    return &t[i];
}

/* Every ok acquire or renew as a span [completion, invoke + lease) into spans, and every
 * release invoke as a span [invoke, invoke] into releases. */
static void collect(const tr_history *h, invoke *t, size_t cap, span *spans, size_t *n_spans,
                    span *releases, size_t *n_releases) {
    tr_history_op op;
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        invoke *in = slot(t, cap, op.process);
        if (op.type == TR_HISTORY_INVOKE) {
            *in = (invoke){.process = op.process, .used = true, .op = op};
            if (!strcmp(op.f, "release")) {
                releases[(*n_releases)++] = (span){op.key, op.value, op.time_ns, op.time_ns};
            }
            continue;
        }
        if (!in->used || op.type != TR_HISTORY_OK || !op.has_value ||
            (strcmp(op.f, "acquire") && strcmp(op.f, "renew"))) {
            continue;
        }
        int64_t end = in->op.time_ns + (int64_t)(TR_LOCK_LEASE_MS * MS);
        spans[(*n_spans)++] = (span){op.key, op.value, op.time_ns, end};
    }
}

/* Cuts each span at its token's first release (both sorted by lock and token). */
static void cut_at_release(span *spans, size_t n, const span *rel, size_t n_rel) {
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        while (j < n_rel && (rel[j].lock < spans[i].lock ||
                             (rel[j].lock == spans[i].lock && rel[j].token < spans[i].token))) {
            j++;
        }
        if (j < n_rel && rel[j].lock == spans[i].lock && rel[j].token == spans[i].token &&
            rel[j].start_ns < spans[i].end_ns) {
            spans[i].end_ns = rel[j].start_ns;
        }
    }
}

/* The first overlap of two tokens' spans on one lock (sorted by lock and start), or NULL;
 * *other is the span it overlaps. */
static const span *overlap(const span *s, size_t n, const span **other) {
    const span *last = NULL; /* of the current lock, the span that ends latest */
    for (size_t i = 0; i < n; i++) {
        if (s[i].end_ns <= s[i].start_ns) {
            continue; /* completed after its lease ran out: never held */
        }
        if (last != NULL && last->lock == s[i].lock && s[i].start_ns < last->end_ns &&
            s[i].token != last->token) {
            *other = last;
            return &s[i];
        }
        if (last == NULL || last->lock != s[i].lock || s[i].end_ns > last->end_ns) {
            last = &s[i];
        }
    }
    return NULL;
}

/* The promise assumes bounded drift and no clock jumps on the home: two owners of a lock
 * whose home (lock mod N) had a clock fault beyond that (tr_fault_breaks_clock_bound)
 * starting before the second grant completed are outside it. */
static bool home_clock_fault(const tr_check_input *in, const span *bad) {
    uint32_t home = in->node_count ? (uint32_t)((uint64_t)bad->lock % in->node_count) : 0;
    for (uint32_t i = 0; i < in->fault_count && home < 64; i++) {
        const tr_fault_span *f = &in->faults[i];
        if (tr_fault_breaks_clock_bound(f) && (f->nodes >> home & 1) &&
            (int64_t)f->start_ns < bad->start_ns) {
            return true;
        }
    }
    return false;
}

tr_verdict tr__lock_check_single_owner(const tr_check_input *in, char *why, size_t cap) {
    size_t count = tr_history_count(in->history), tcap = 16;
    while (tcap < 2 * count) {
        tcap *= 2;
    }
    span *spans = malloc((count + 1) * sizeof *spans), *rel = malloc((count + 1) * sizeof *rel);
    invoke *t = calloc(tcap, sizeof *t);
    if (spans == NULL || rel == NULL || t == NULL) {
        free(spans), free(rel), free(t);
        snprintf(why, cap, "out of memory for %zu operations", count);
        return TR_VERDICT_UNKNOWN;
    }
    size_t n = 0, n_rel = 0;
    collect(in->history, t, tcap, spans, &n, rel, &n_rel);
    qsort(spans, n, sizeof *spans, by_lock_token);
    qsort(rel, n_rel, sizeof *rel, by_lock_token);
    cut_at_release(spans, n, rel, n_rel);
    qsort(spans, n, sizeof *spans, by_lock_start);
    const span *other = NULL, *bad = overlap(spans, n, &other);
    tr_check_measure(in, "leases", (double)n);
    tr_verdict v = TR_VERDICT_HELD;
    if (bad != NULL) {
        snprintf(why, cap,
                 "lock %lld: token %lld holds it from %.3f s while token %lld holds it until "
                 "%.3f s",
                 (long long)bad->lock, (long long)bad->token, bad->start_ns / 1e9,
                 (long long)other->token, other->end_ns / 1e9);
        v = TR_VERDICT_VIOLATED;
        if (home_clock_fault(in, bad)) {
            char text[200];
            snprintf(text, sizeof text, "%s", why);
            snprintf(why, cap, "not promised with a clock fault on the home n%u: %s",
                     (unsigned)((uint64_t)bad->lock % in->node_count) + 1, text);
            v = TR_VERDICT_UNKNOWN; /* outside the stated clock assumption */
        }
    }
    free(spans), free(rel), free(t);
    return v;
}

/* ---- the check: fencing tokens grow ---------------------------------------------------- */

/* Every ok acquire as {lock, token, its invoke, its completion} into out. */
static size_t collect_acquires(const tr_history *h, invoke *t, size_t cap, span *out) {
    tr_history_op op;
    size_t n = 0;
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        invoke *in = slot(t, cap, op.process);
        if (op.type == TR_HISTORY_INVOKE) {
            *in = (invoke){.process = op.process, .used = true, .op = op};
        } else if (in->used && op.type == TR_HISTORY_OK && op.has_value &&
                   !strcmp(op.f, "acquire")) {
            out[n++] = (span){op.key, op.value, in->op.time_ns, op.time_ns};
        }
    }
    return n;
}

static int by_lock_end(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->lock != y->lock) {
        return x->lock < y->lock ? -1 : 1;
    }
    return (x->end_ns > y->end_ns) - (x->end_ns < y->end_ns);
}

/* In a[0..n) (one lock, by completion; max[i]: the largest token of a[0..i]), an acquire
 * whose token is not larger than one granted before it was asked, or NULL. */
static const span *stale_token(const span *a, const int64_t *max, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = n; /* how many completed before a[i] was invoked */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (a[mid].end_ns < a[i].start_ns) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo > 0 && max[lo - 1] >= a[i].token) {
            return &a[i];
        }
    }
    return NULL;
}

/* "tokens-grow": an acquire asked after another one was granted gets a larger token (what a
 * resource fencing by token relies on; a home that forgot its counter in a crash breaks it). */
tr_verdict tr__lock_check_tokens_grow(const tr_check_input *in, char *why, size_t cap) {
    size_t count = tr_history_count(in->history), tcap = 16;
    while (tcap < 2 * count) {
        tcap *= 2;
    }
    span *a = malloc((count + 1) * sizeof *a);
    int64_t *max = malloc((count + 1) * sizeof *max);
    invoke *t = calloc(tcap, sizeof *t);
    if (a == NULL || max == NULL || t == NULL) {
        free(a), free(max), free(t);
        snprintf(why, cap, "out of memory for %zu operations", count);
        return TR_VERDICT_UNKNOWN;
    }
    size_t n = collect_acquires(in->history, t, tcap, a);
    qsort(a, n, sizeof *a, by_lock_end);
    const span *bad = NULL;
    for (size_t g = 0, e = 0; g < n && bad == NULL; g = e) {
        for (e = g; e < n && a[e].lock == a[g].lock; e++) {
            max[e] = e > g && max[e - 1] > a[e].token ? max[e - 1] : a[e].token;
        }
        bad = stale_token(a + g, max + g, e - g);
    }
    tr_verdict v = TR_VERDICT_HELD;
    if (bad != NULL) {
        snprintf(why, cap, "lock %lld: token %lld granted at %.3f s, after a token as large",
                 (long long)bad->lock, (long long)bad->token, bad->end_ns / 1e9);
        v = TR_VERDICT_VIOLATED;
    }
    free(a), free(max), free(t);
    return v;
}

/* ---- the descriptor --------------------------------------------------------------------- */

static const tr_service_actor lock_actors[] = {
    {.name = "lock", .behaviour = &tr__lock_behaviour, .placement = TR_PLACE_EVERY_NODE}};
static const tr_service_request lock_requests[] = {
    {"acquire", TR_LOCK_ACQUIRE}, {"renew", TR_LOCK_RENEW}, {"release", TR_LOCK_RELEASE}};
static const tr_check lock_checks[] = {{"single-owner", tr__lock_check_single_owner},
                                       {"tokens-grow", tr__lock_check_tokens_grow}};
static const char *const lock_bugs[] = {"trust-node-down", NULL};

const tr_service tr__builtin_lock = {.abi = TR_SERVICE_ABI,
                                     .name = "lock",
                                     .actors = lock_actors,
                                     .actor_count = 1,
                                     .requests = lock_requests,
                                     .request_count = 3,
                                     .workload = &lock_workload,
                                     .checks = lock_checks,
                                     .check_count = 2,
                                     .bugs = lock_bugs,
                                     .nemesis = TR_NEMESIS_PAUSE | TR_NEMESIS_PARTITION};
