/* shrink.c — ddmin and the minimality pass over a fault list (see shrink.h). */
#include "sim/shrink.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"

typedef struct shrinker {
    tr__shrink_test test;
    void *ud;
    uint64_t max_runs;
    tr__shrink_result *out;
    tr_scen_event *cur; /* the smallest failing list so far (out->faults.events) */
    size_t count;
    tr_scen_event *buf; /* a candidate */
} shrinker;

/* 1 fails, 0 passes, TR_EFULL when the budget is spent, or the test's error. */
static int try_list(shrinker *s, const tr_scen_event *ev, size_t n) {
    if (s->out->runs == s->max_runs) {
        s->out->exhausted = true;
        return TR_EFULL;
    }
    s->out->runs++;
    int rc = s->test(ev, n, s->ud);
    TR_ASSERT(rc == 0 || rc == 1 || rc < 0);
    return rc;
}

static void keep(shrinker *s, size_t n) {
    memcpy(s->cur, s->buf, n * sizeof *s->cur);
    s->count = n;
}

/* The list without cur[from..to) into buf; its length. */
static size_t complement(shrinker *s, size_t from, size_t to) {
    memcpy(s->buf, s->cur, from * sizeof *s->buf);
    memcpy(s->buf + from, s->cur + to, (s->count - to) * sizeof *s->buf);
    return s->count - (to - from);
}

/* One round at granularity n: 1 the list shrank (*n updated), 0 it did not, or an error. */
static int ddmin_round(shrinker *s, size_t *n) {
    size_t len = s->count;
    for (size_t k = 0; k < *n; k++) { /* a chunk alone */
        size_t from = len * k / *n, to = len * (k + 1) / *n;
        memcpy(s->buf, s->cur + from, (to - from) * sizeof *s->buf);
        int rc = try_list(s, s->buf, to - from);
        if (rc != 0) {
            return rc < 0 ? rc : (keep(s, to - from), *n = 2, 1);
        }
    }
    for (size_t k = 0; k < *n && *n > 2; k++) { /* everything but a chunk */
        size_t m = complement(s, len * k / *n, len * (k + 1) / *n);
        int rc = try_list(s, s->buf, m);
        if (rc != 0) {
            return rc < 0 ? rc : (keep(s, m), *n = *n - 1 > 2 ? *n - 1 : 2, 1);
        }
    }
    return 0;
}

/* Phase 1: ddmin while its chunks hold at least two faults. */
static int ddmin(shrinker *s) {
    size_t n = 2;
    while (s->count >= 4 && n <= s->count / 2) {
        int rc = ddmin_round(s, &n);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            n = n * 2 < s->count ? n * 2 : s->count;
        }
    }
    return 0;
}

/* Phase 2: single removals until a whole pass removes nothing (then proven 1-minimal). */
static int minimality_pass(shrinker *s) {
    bool removed = true;
    while (removed) {
        removed = false;
        for (size_t i = 0; i < s->count;) {
            size_t m = complement(s, i, i + 1);
            int rc = try_list(s, s->buf, m);
            if (rc < 0) {
                return rc;
            }
            if (rc == 1) {
                keep(s, m); /* fault i is not needed; the next one moved to i */
                removed = true;
            } else {
                i++;
            }
        }
    }
    s->out->minimal = true;
    return 0;
}

int tr__shrink(const tr_scenario *in, uint64_t max_runs, tr__shrink_test test, void *ud,
               tr__shrink_result *out) {
    TR_ASSERT(in != NULL && test != NULL && out != NULL);
    TR_ASSERT(in->count <= TR_SCENARIO_EVENTS_MAX);
    *out = (tr__shrink_result){0};
    size_t bytes = (in->count ? in->count : 1) * sizeof *in->events;
    shrinker s = {.test = test, .ud = ud, .max_runs = max_runs, .out = out};
    s.cur = malloc(bytes);
    s.buf = malloc(bytes);
    if (s.cur == NULL || s.buf == NULL) {
        free(s.cur);
        free(s.buf);
        return TR_ENOMEM;
    }
    memcpy(s.cur, in->events, in->count * sizeof *in->events);
    s.count = in->count;
    int rc = ddmin(&s);
    rc = rc == 0 ? minimality_pass(&s) : rc;
    free(s.buf);
    out->faults = (tr_scenario){.events = s.cur, .count = s.count, .cap = in->count};
    TR_ASSERT(!(out->minimal && out->exhausted));
    return rc == TR_EFULL && out->exhausted ? 0 : rc;
}

void tr__shrink_result_free(tr__shrink_result *r) {
    if (r != NULL) {
        tr__scenario_free(&r->faults);
    }
}
