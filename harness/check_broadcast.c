/* check_broadcast.c — the check of the broadcast service (harness/builtin_broadcast.h):
 * every acknowledged message delivered to every up node exactly once, from the nodes' final
 * states. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/builtin_broadcast.h"
#include "harness/check_common.h"

typedef struct msg_rec {
    int64_t id, process;
    tr_history_type outcome; /* INVOKE: never completed */
    bool read;               /* seen by some read */
    bool torn;               /* its node's disk was torn after it was broadcast */
    uint32_t holders;        /* up nodes that delivered it */
} msg_rec;

static int by_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The records sorted by id, and an open-addressing index over them: every read returns every
 * id its node delivered, so lookups are the check's bulk. */
typedef struct msgs {
    msg_rec *m;
    size_t n;
    uint32_t *slot; /* index + 1 into m, 0 empty; mask + 1 slots */
    size_t mask;
} msgs;

static size_t slot_of(int64_t id, size_t mask) {
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15u) >> 17) & mask;
}

/* Builds the index (1 << k slots, at least twice n); false without memory. */
static bool index_build(msgs *ms) {
    size_t cap = 16;
    while (cap < 2 * ms->n + 2) {
        cap <<= 1;
    }
    ms->slot = calloc(cap, sizeof *ms->slot);
    ms->mask = cap - 1;
    for (size_t i = 0; ms->slot != NULL && i < ms->n; i++) {
        size_t j = slot_of(ms->m[i].id, ms->mask);
        while (ms->slot[j] != 0) {
            j = (j + 1) & ms->mask;
        }
        ms->slot[j] = (uint32_t)i + 1;
    }
    return ms->slot != NULL;
}

static msg_rec *find(const msgs *ms, int64_t id) {
    for (size_t j = slot_of(id, ms->mask); ms->slot[j] != 0; j = (j + 1) & ms->mask) {
        msg_rec *r = &ms->m[ms->slot[j] - 1];
        if (r->id == id) {
            return r;
        }
    }
    return NULL;
}

/* The broadcasts of in's history, sorted by id and indexed, with their outcomes; reads mark
 * what they saw. false without memory. */
static bool collect(const tr_check_input *in, msgs *ms) {
    const tr_history *h = in->history;
    size_t n = tr_history_count(h), k = 0;
    msg_rec *m = calloc(n + 1, sizeof *m);
    tr_history_op op;
    for (size_t i = 0; m != NULL && tr_history_get(h, i, &op) == 0; i++) {
        if (!strcmp(op.f, "broadcast") && op.type == TR_HISTORY_INVOKE) {
            m[k++] = (msg_rec){.id = op.value,
                               .process = op.process,
                               .torn = tr__check_torn_after(in, op.node, op.time_ns)};
        }
    }
    *ms = (msgs){.m = m, .n = k};
    if (m == NULL) {
        return false;
    }
    qsort(m, k, sizeof *m, by_id);
    if (!index_build(ms)) {
        free(m);
        return false;
    }
    for (size_t i = 0; tr_history_get(h, i, &op) == 0; i++) {
        msg_rec *r =
            strcmp(op.f, "broadcast") || op.type == TR_HISTORY_INVOKE ? NULL : find(ms, op.value);
        if (r != NULL && r->process == op.process) {
            r->outcome = op.type;
        }
        if (!strcmp(op.f, "read") && op.type == TR_HISTORY_OK && op.any &&
            op.any->kind == TR_VALUE_BYTES) {
            tr_mp_reader rd;
            uint32_t ids;
            int64_t id;
            tr_mp_reader_init(&rd, op.any->bytes, op.any->len);
            ids = tr_mp_read_array(&rd, &ids) == 0 ? ids : 0;
            for (uint32_t j = 0; j < ids; j++) {
                if (tr_mp_read_int(&rd, &id) == 0 && (r = find(ms, id)) != NULL) {
                    r->read = true;
                }
            }
        }
    }
    return true;
}

typedef struct tally {
    uint64_t missing, duplicates, phantoms, partial;
    char first[160]; /* the first problem, for why */
} tally;

/* Node k's final state against the broadcasts: duplicates and phantoms counted, holders of
 * each message marked. 0, or -1 when it has no state or a malformed one. */
static int node_state(const tr_check_input *in, uint32_t k, const msgs *ms, tally *t) {
    tr_mp_reader r;
    uint32_t len;
    if (in->states == NULL || in->states[k] == NULL) {
        return -1;
    }
    tr_mp_reader_init(&r, in->states[k], in->state_lens[k]);
    if (tr_mp_read_array(&r, &len) != 0 || len % 2 != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < len / 2; i++) {
        int64_t id, deliveries;
        if (tr_mp_read_int(&r, &id) != 0 || tr_mp_read_int(&r, &deliveries) != 0) {
            return -1;
        }
        msg_rec *rec = find(ms, id);
        if (rec == NULL || rec->outcome == TR_HISTORY_FAIL) {
            if (t->phantoms++ == 0 && t->duplicates == 0) {
                snprintf(t->first, sizeof t->first, "n%u delivered %lld, which was %s", k + 1,
                         (long long)id, rec ? "refused" : "never broadcast");
            }
            continue;
        }
        rec->holders++;
        if (deliveries > 1 && t->duplicates++ == 0) {
            snprintf(t->first, sizeof t->first, "n%u delivered message %lld %lld times", k + 1,
                     (long long)id, (long long)deliveries);
        }
    }
    return tr_mp_reader_done(&r) == 0 ? 0 : -1;
}

tr_verdict tr__broadcast_check_delivery(const tr_check_input *in, char *why, size_t cap) {
    msgs ms;
    bool have = collect(in, &ms);
    tally t = {0};
    uint32_t up = 0;
    uint64_t acked = 0, never_read = 0, lost_torn = 0;
    if (!have) {
        snprintf(why, cap, "out of memory");
        return TR_VERDICT_UNKNOWN;
    }
    for (uint32_t k = 0; k < in->node_count; k++) {
        up += node_state(in, k, &ms, &t) == 0;
    }
    for (size_t i = 0; i < ms.n && up > 0; i++) {
        const msg_rec *r = &ms.m[i];
        bool ok = r->outcome == TR_HISTORY_OK;
        acked += ok;
        never_read += ok && !r->read;
        if (ok && r->holders == 0 && r->torn) {
            lost_torn++; /* its only durable copy was on the torn disk: allowed */
            continue;
        }
        if (ok && r->holders < up && t.missing++ == 0 && !t.first[0]) {
            snprintf(t.first, sizeof t.first,
                     "message %lld (broadcast ok) delivered on %u of %u up nodes", (long long)r->id,
                     r->holders, up);
        }
        if (!ok && r->holders > 0 && r->holders < up && t.partial++ == 0 && !t.first[0]) {
            snprintf(t.first, sizeof t.first,
                     "message %lld (indeterminate) delivered on %u of %u up nodes only",
                     (long long)r->id, r->holders, up);
        }
    }
    tr_check_measure(in, "delivered", (double)acked);
    tr_check_measure(in, "missing", (double)t.missing);
    tr_check_measure(in, "duplicates", (double)t.duplicates);
    tr_check_measure(in, "never_read", (double)never_read);
    tr_check_measure(in, "lost_torn", (double)lost_torn);
    free(ms.m);
    free(ms.slot);
    if (up == 0) {
        snprintf(why, cap, "no node answered its final state");
        return TR_VERDICT_UNKNOWN;
    }
    if (t.missing || t.duplicates || t.phantoms || t.partial) {
        snprintf(why, cap, "%llu missing, %llu duplicated, %llu partial, %llu unknown: %s",
                 (unsigned long long)t.missing, (unsigned long long)t.duplicates,
                 (unsigned long long)t.partial, (unsigned long long)t.phantoms, t.first);
        return TR_VERDICT_VIOLATED;
    }
    if (lost_torn > 0) {
        snprintf(why, cap,
                 "%u nodes delivered each of the %llu acknowledged messages once but %llu, "
                 "acknowledged by a node whose disk was then torn and delivered nowhere "
                 "(allowed)",
                 up, (unsigned long long)acked, (unsigned long long)lost_torn);
        return TR_VERDICT_HELD;
    }
    snprintf(why, cap, "%u nodes delivered each of the %llu acknowledged messages once", up,
             (unsigned long long)acked);
    return TR_VERDICT_HELD;
}
