/* builtin_ap.c — the AP register service's state actor and checks (see builtin_ap.h). */
#include "harness/builtin_ap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/registers.h"

#define STATE_READ_TIMEOUT_MS 1000

/* ---- the state actor ---------------------------------------------------------------------- */

typedef struct ap_state {
    bool busy;
    tr_msg req; /* the state request's header (from, corr): its body is not kept */
    uint32_t answered;
    bool failed;
    uint64_t corr[TR__AP_STATE_KEYS];
    bool has[TR__AP_STATE_KEYS];
    int64_t value[TR__AP_STATE_KEYS];
} ap_state;

static void state_reply(tr_ctx *ctx, ap_state *s) {
    uint8_t buf[16 + TR__AP_STATE_KEYS * 24];
    tr_mp_writer w;
    uint32_t n = 0;
    tr_mp_writer_init(&w, buf, sizeof buf);
    for (uint32_t k = 0; k < TR__AP_STATE_KEYS; k++) {
        n += s->has[k];
    }
    tr_mp_write_array(&w, n);
    for (uint32_t k = 0; k < TR__AP_STATE_KEYS; k++) {
        if (s->has[k]) {
            tr_mp_write_array(&w, 2);
            tr_mp_write_int(&w, k);
            tr_mp_write_int(&w, s->value[k]);
        }
    }
    bool ok = !s->failed && w.err == 0;
    tr_reply(ctx, &s->req, TR_MSG_USER, ok ? buf : NULL, ok ? w.len : 0);
    s->busy = false;
}

static void state_request(tr_ctx *ctx, ap_state *s, const tr_msg *msg) {
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    if (s->busy) {
        tr_reply(ctx, msg, TR_MSG_USER, NULL, 0); /* one at a time: unknown */
        return;
    }
    memset(s, 0, sizeof *s);
    s->busy = true;
    s->req = (tr_msg){.type = msg->type, .from = msg->from, .to = msg->to, .corr = msg->corr};
    for (uint32_t k = 0; k < TR__AP_STATE_KEYS; k++) {
        if (tr__registers_request_encode(body, sizeof body, k, false, 0, &len) != 0 ||
            tr_request_name(ctx, "ap", TR_REG_READ, body, len, STATE_READ_TIMEOUT_MS,
                            &s->corr[k]) != 0) {
            s->failed = true;
            s->answered++;
        }
    }
    if (s->answered == TR__AP_STATE_KEYS) {
        state_reply(ctx, s);
    }
}

static void state_answer(tr_ctx *ctx, ap_state *s, const tr_msg *msg) {
    tr_reg_reply rep;
    for (uint32_t k = 0; s->busy && k < TR__AP_STATE_KEYS; k++) {
        if (s->corr[k] == 0 || s->corr[k] != msg->corr) {
            continue;
        }
        s->corr[k] = 0;
        if (msg->type != TR_REG_REPLY ||
            tr__registers_reply_decode(msg->body, msg->body_len, &rep) != 0 || !rep.ok) {
            s->failed = true;
        } else {
            s->has[k] = rep.has_value;
            s->value[k] = rep.value;
        }
        if (++s->answered == TR__AP_STATE_KEYS) {
            state_reply(ctx, s);
        }
        return;
    }
}

static int state_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    if (msg->type == TR__AP_STATE_REQUEST) {
        state_request(ctx, state, msg);
    } else {
        state_answer(ctx, state, msg);
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__ap_state_behaviour = {
    .name = "ap_state", .state_size = sizeof(ap_state), .receive = state_receive};

/* ---- reading the final states -------------------------------------------------------------- */

typedef struct replica {
    bool known;
    bool has[TR__AP_STATE_KEYS];
    int64_t value[TR__AP_STATE_KEYS];
} replica;

static bool decode_state(const uint8_t *body, size_t len, replica *r) {
    tr_mp_reader rd;
    uint32_t n, pair;
    uint64_t key;
    int64_t v;
    memset(r, 0, sizeof *r);
    if (body == NULL || len == 0) {
        return false;
    }
    tr_mp_reader_init(&rd, body, len);
    if (tr_mp_read_array(&rd, &n) != 0 || n > TR__AP_STATE_KEYS) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (tr_mp_read_array(&rd, &pair) != 0 || pair != 2 || tr_mp_read_uint(&rd, &key) != 0 ||
            key >= TR__AP_STATE_KEYS || tr_mp_read_int(&rd, &v) != 0) {
            return false;
        }
        r->has[key] = true;
        r->value[key] = v;
    }
    r->known = true;
    return true;
}

/* The known replicas' states in reps (node_count of them); the first known one, or -1. */
static int read_states(const tr_check_input *in, replica *reps) {
    int first = -1;
    for (uint32_t i = 0; i < in->node_count; i++) {
        if (decode_state(in->states[i], in->state_lens[i], &reps[i]) && first < 0) {
            first = (int)i;
        }
    }
    return first;
}

/* ---- the writes of the history ------------------------------------------------------------- */

typedef struct write_rec {
    int64_t key, value;
    int64_t invoke_ns;
    int64_t done_ns; /* INT64_MAX: info or never completed */
    bool acked, failed;
    uint64_t index;
} write_rec;

/* Every write of the history with its outcome (an owned array; *n its length), or NULL. */
static write_rec *collect_writes(const tr_history *h, size_t *n) {
    size_t count = tr_history_count(h);
    write_rec *w = malloc((count ? count : 1) * sizeof *w);
    tr_history_op op, done;
    *n = 0;
    for (size_t i = 0; w != NULL && i < count; i++) {
        if (tr_history_get(h, i, &op) != 0 || op.type != TR_HISTORY_INVOKE ||
            strcmp(op.f, "write") != 0) {
            continue;
        }
        write_rec *r = &w[(*n)++];
        *r = (write_rec){.key = op.key,
                         .value = op.value,
                         .invoke_ns = op.time_ns,
                         .done_ns = INT64_MAX,
                         .index = op.index};
        /* its completion: the next operation of the same process */
        for (size_t j = i + 1; j < count; j++) {
            if (tr_history_get(h, j, &done) == 0 && done.process == op.process) {
                r->acked = done.type == TR_HISTORY_OK;
                r->failed = done.type == TR_HISTORY_FAIL;
                r->done_ns = done.type == TR_HISTORY_INFO ? INT64_MAX : done.time_ns;
                break;
            }
        }
    }
    return w;
}

/* ---- the checks ---------------------------------------------------------------------------- */

static tr_verdict check_converged(const tr_check_input *in, char *why, size_t cap) {
    replica reps[TR_SIM_NODES_MAX];
    int first = read_states(in, reps);
    if (first < 0) {
        snprintf(why, cap, "replicas did not converge after heal (no node reported its state)");
        return TR_VERDICT_VIOLATED;
    }
    size_t differ = 0;
    int64_t key = -1;
    uint32_t node = 0;
    for (uint32_t k = 0; k < TR__AP_STATE_KEYS; k++) {
        bool same = true;
        for (uint32_t i = 0; i < in->node_count; i++) {
            const replica *a = &reps[first], *b = &reps[i];
            if (b->known && (a->has[k] != b->has[k] || (a->has[k] && a->value[k] != b->value[k]))) {
                same = false;
                node = key < 0 ? i : node;
                break;
            }
        }
        differ += !same;
        key = !same && key < 0 ? k : key;
    }
    if (differ > 0) {
        snprintf(why, cap,
                 "replicas did not converge after heal (%zu keys differ, e.g. key %lld on n%d "
                 "and n%u)",
                 differ, (long long)key, first + 1, node + 1);
        return TR_VERDICT_VIOLATED;
    }
    return TR_VERDICT_HELD;
}

static tr_verdict check_no_phantom(const tr_check_input *in, char *why, size_t cap) {
    replica reps[TR_SIM_NODES_MAX];
    size_t nw;
    read_states(in, reps);
    write_rec *w = collect_writes(in->history, &nw);
    if (w == NULL) {
        snprintf(why, cap, "out of memory");
        return TR_VERDICT_UNKNOWN;
    }
    for (uint32_t i = 0; i < in->node_count; i++) {
        for (uint32_t k = 0; reps[i].known && k < TR__AP_STATE_KEYS; k++) {
            bool written = !reps[i].has[k];
            for (size_t j = 0; !written && j < nw; j++) {
                written = w[j].key == k && w[j].value == reps[i].value[k] && !w[j].failed;
            }
            if (!written) {
                snprintf(why, cap, "n%u holds %lld for key %u, which nobody wrote", i + 1,
                         (long long)reps[i].value[k], k);
                free(w);
                return TR_VERDICT_VIOLATED;
            }
        }
    }
    free(w);
    return TR_VERDICT_HELD;
}

/* For each node and key, the latest completion (INT64_MAX: info or never completed) among
 * the writes that did not fail and wrote the value the node holds; INT64_MIN when none (or the
 * node holds nothing there: the register has no delete). An acknowledged write a survives on
 * node i exactly when that latest completion is not before a's invoke: the node holds a's
 * own value, or one whose write was not completed before a was invoked. One pass over the
 * writes per node instead of a search per write and node. */
static void latest_holders(const write_rec *w, size_t nw, const replica *reps, uint32_t nodes,
                           int64_t (*latest)[TR__AP_STATE_KEYS]) {
    for (uint32_t i = 0; i < nodes; i++) {
        for (uint32_t k = 0; k < TR__AP_STATE_KEYS; k++) {
            latest[i][k] = INT64_MIN;
        }
        for (size_t j = 0; reps[i].known && j < nw; j++) {
            int64_t k = w[j].key;
            if (k >= 0 && k < TR__AP_STATE_KEYS && !w[j].failed && reps[i].has[k] &&
                reps[i].value[k] == w[j].value && w[j].done_ns > latest[i][k]) {
                latest[i][k] = w[j].done_ns;
            }
        }
    }
}

/* A clock fault, or one that crashes a node: a crash, or a failed or torn store (io-error and
 * disk-full restart the node, corrupt leaves it down). */
static bool lossy_faults(const tr_check_input *in) {
    static const char *const lossy[] = {"crash", "clock", "io-error", "disk-full", "corrupt"};
    for (uint32_t i = 0; i < in->fault_count; i++) {
        for (size_t k = 0; k < sizeof lossy / sizeof lossy[0]; k++) {
            if (!strcmp(in->faults[i].kind, lossy[k])) {
                return true;
            }
        }
    }
    return false;
}

static tr_verdict check_no_lost_write(const tr_check_input *in, char *why, size_t cap) {
    replica reps[TR_SIM_NODES_MAX];
    size_t nw, lost = 0;
    read_states(in, reps);
    write_rec *w = collect_writes(in->history, &nw);
    if (w == NULL) {
        snprintf(why, cap, "out of memory");
        return TR_VERDICT_UNKNOWN;
    }
    int64_t latest[TR_SIM_NODES_MAX][TR__AP_STATE_KEYS];
    latest_holders(w, nw, reps, in->node_count, latest);
    const write_rec *first = NULL;
    uint32_t on = 0;
    for (size_t j = 0; j < nw; j++) {
        for (uint32_t i = 0;
             w[j].acked && w[j].key >= 0 && w[j].key < TR__AP_STATE_KEYS && i < in->node_count;
             i++) {
            if (reps[i].known && latest[i][w[j].key] < w[j].invoke_ns) {
                first = first ? first : &w[j];
                on = first == &w[j] ? i : on;
                lost++;
                break;
            }
        }
    }
    free(w);
    tr_check_measure(in, "lost_writes", (double)lost);
    if (lost == 0) {
        return TR_VERDICT_HELD;
    }
    bool allowed = lossy_faults(in);
    snprintf(why, cap, "%zu acknowledged writes lost, first #%llu (key %lld = %lld, lost on n%u)%s",
             lost, (unsigned long long)first->index, (long long)first->key, (long long)first->value,
             on + 1,
             allowed ? "; allowed under clock faults and crashes"
                     : ": acknowledged writes lost without clock faults or crashes");
    return allowed ? TR_VERDICT_HELD : TR_VERDICT_VIOLATED;
}

static tr_verdict check_accepts(const tr_check_input *in, char *why, size_t cap) {
    tr_history_op op;
    uint64_t refused = 0;
    for (size_t i = 0; i < tr_history_count(in->history); i++) {
        refused += tr_history_get(in->history, i, &op) == 0 && op.type == TR_HISTORY_FAIL;
    }
    if (refused > 0) {
        snprintf(why, cap, "%llu ops refused (AP must accept)", (unsigned long long)refused);
        return TR_VERDICT_VIOLATED;
    }
    return TR_VERDICT_HELD;
}

const tr_check tr__ap_checks[TR__AP_CHECK_COUNT] = {{"converged", check_converged},
                                                    {"no-phantom", check_no_phantom},
                                                    {"no-lost-write", check_no_lost_write},
                                                    {"accepts-every-op", check_accepts}};
