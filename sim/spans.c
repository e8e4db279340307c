/* spans.c — Zipkin v2 spans of a simulated run (sim/spans.h). */
#include "sim/spans.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "runtime/trace_spans.h"
#include "sim/sim.h"

/* The clients' traces: a stream no other part of the run draws from ("spans"). */
#define SPANS_STREAM (TR_SIM_STREAM_USER + 0x7370616e73ull)
#define CHUNK 64

typedef struct carried {
    uint64_t key; /* 0: empty */
    tr_trace trace;
} carried;

struct tr__sim_spans {
    tr_sim *sim;
    tr__spans rec; /* one recorder for every node: a span names its node itself */
    tr__span_file file;
    tr_sim_rng rng;
    uint64_t left_out; /* spans past TR__SIM_SPANS_MAX */
    uint32_t chunk_len;
    tr__span chunk[CHUNK];
    carried carry[TR__SIM_SPANS_CARRY];
};

static uint64_t virtual_ns(void *ud) {
    const tr__sim_spans *s = ud;
    return tr_sim_now_ns(s->sim);
}

static void flush(tr__sim_spans *s) {
    (void)tr__span_file_append(&s->file, s->chunk, s->chunk_len); /* shows at close */
    s->chunk_len = 0;
}

static void sink(void *ud, const tr__span *span) {
    tr__sim_spans *s = ud;
    if (s->file.written + s->chunk_len >= TR__SIM_SPANS_MAX) {
        s->left_out++;
        return;
    }
    s->chunk[s->chunk_len++] = *span;
    if (s->chunk_len == CHUNK) {
        flush(s);
    }
}

int tr__sim_spans_open(tr_sim *sim, const tr_sim_spans_spec *spec, char *err, size_t err_cap) {
    TR_ASSERT(sim->spans_out == NULL);
    if (spec->path == NULL || spec->path[0] == '\0' ||
        !(spec->sample >= 0.0 && spec->sample <= 1.0)) {
        snprintf(err, err_cap, "spans need a file and a sample from 0 to 1");
        return TR_EINVAL;
    }
    tr__sim_spans *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return TR_ENOMEM;
    }
    s->sim = sim;
    (void)tr__spans_init(&s->rec, spec->sample);
    tr__spans_hook(&s->rec, &(tr__spans_hooks){.clock_ns = virtual_ns, .sink = sink, .ud = s});
    if (tr__span_file_open(&s->file, spec->path, false) != 0) {
        snprintf(err, err_cap, "cannot write the spans %s", spec->path);
        tr__spans_fini(&s->rec);
        free(s);
        return TR_EIO;
    }
    tr_sim_rng_stream(sim, SPANS_STREAM, &s->rng);
    for (uint32_t i = 0; i < sim->n; i++) {
        tr__spans_attach(sim->nodes[i].node, &s->rec);
    }
    sim->spans_out = s;
    return 0;
}

void tr__sim_spans_close(tr_sim *sim) {
    tr__sim_spans *s = sim->spans_out;
    if (s == NULL) {
        return;
    }
    for (uint32_t i = 0; i < sim->n; i++) {
        if (sim->nodes[i].node != NULL) {
            tr__spans_detach(sim->nodes[i].node);
        }
    }
    flush(s);
    (void)tr__span_file_close(&s->file);
    tr__spans_fini(&s->rec);
    free(s);
    sim->spans_out = NULL;
}

static void put64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

bool tr__sim_spans_trace(tr_sim *sim, tr_trace *out) {
    tr__sim_spans *s = sim->spans_out;
    if (s == NULL) {
        return false;
    }
    memset(out, 0, sizeof *out);
    uint64_t hi, lo, span;
    do {
        hi = tr_sim_rng_next(&s->rng);
        lo = tr_sim_rng_next(&s->rng);
    } while ((hi | lo) == 0);
    do {
        span = tr_sim_rng_next(&s->rng);
    } while (span == 0);
    put64(out->id, hi);
    put64(out->id + 8, lo);
    put64(out->span, span);
    return true;
}

void tr__sim_spans_strip(tr_sim *sim, tr_msg *msg, tr_trace *saved) {
    *saved = msg->trace;
    if (sim->spans_out != NULL) {
        memset(&msg->trace, 0, sizeof msg->trace);
    }
}

static uint64_t carry_key(uint32_t f, uint32_t t, const uint8_t *bytes, size_t len) {
    uint64_t k =
        tr__sim_hash_bytes(tr__sim_mix(0x7370616e73ull, ((uint64_t)f << 32) | t), bytes, len);
    return k != 0 ? k : 1;
}

void tr__sim_spans_carry(tr_sim *sim, uint32_t f, uint32_t t, const uint8_t *bytes, size_t len,
                         const tr_trace *saved) {
    tr__sim_spans *s = sim->spans_out;
    if (s == NULL || !tr_trace_is_set(saved)) {
        return;
    }
    uint64_t k = carry_key(f, t, bytes, len);
    s->carry[k % TR__SIM_SPANS_CARRY] = (carried){.key = k, .trace = *saved};
}

void tr__sim_spans_claim(tr_sim *sim, uint32_t f, uint32_t t, const uint8_t *bytes, size_t len,
                         tr_msg *msg) {
    tr__sim_spans *s = sim->spans_out;
    if (s == NULL) {
        return;
    }
    uint64_t k = carry_key(f, t, bytes, len);
    carried *c = &s->carry[k % TR__SIM_SPANS_CARRY];
    if (c->key == k) {
        msg->trace = c->trace;
        c->key = 0;
    }
}
