/*
 * randomize.c — randomised configurations (randomize.h): the table of bounds, the draw, and
 * the options that set each knob explicitly (parse and format, exact inverses).
 */
#include "harness/randomize.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"

#define US ((uint64_t)1000)
#define MS ((uint64_t)1000000)
#define SEC ((uint64_t)1000000000)
#define PPM 1000000.0
#define OP_TIMEOUT_DEFAULT_MS 1000u

typedef enum knob {
    K_NODES,
    K_DELAY,
    K_JITTER,
    K_DIST,
    K_LOSS,
    K_DUP,
    K_REORDER,
    K_DETECT,
    K_OP_TIMEOUT,
    K_HEARTBEAT,
    K_FD_DOWN,
    K_COUNT
} knob;

/* What --randomize draws, in draw order: uniformly in [lo, hi] (in `unit`: nanoseconds per
 * unit for durations, parts per million for probabilities, 1 otherwise), except that with
 * zero_in = k one draw in k turns the knob off (0). docs/simulation.md lists this table. */
typedef struct bound {
    const char *option;
    uint64_t lo, hi, unit;
    uint32_t zero_in;
} bound;

static const bound bounds[K_COUNT] = {
    [K_NODES] = {"--nodes", 3, 16, 1, 0},
    [K_DELAY] = {"--delay", 20, 2000, US, 0},           /* the minimum link delay: 20 us .. 2 ms */
    [K_JITTER] = {"--jitter", 0, 4000, US, 0},          /* mean of the random part: 0 .. 4 ms */
    [K_DIST] = {"--delay-dist", 0, 2, 1, 0},            /* uniform, exponential, fixed */
    [K_LOSS] = {"--loss", 1, 20000, 1, 2},              /* ppm: up to 2 %, off in half the runs */
    [K_DUP] = {"--dup", 1, 20000, 1, 2},                /* ppm: up to 2 %, off in half the runs */
    [K_REORDER] = {"--reorder", 1, 100000, 1, 2},       /* ppm: up to 10 %, off in half the runs */
    [K_DETECT] = {"--detect", 1, 100, MS, 0},           /* failure detection: 1 .. 100 ms */
    [K_OP_TIMEOUT] = {"--op-timeout", 500, 5000, 1, 0}, /* ms */
    [K_HEARTBEAT] = {"--heartbeat", 100, 1000, 1, 0},   /* ms: the protocol's heartbeat period */
    [K_FD_DOWN] = {"--fd-down", 1000, 6000, 1, 0},      /* ms: the phi detector's hard bound */
};

static const char *const dist_names[] = {"uniform", "exponential", "fixed"};

/* The options that set the knobs explicitly (their limits, wider than the draw's, are in
 * tr__randomize_parse and in `troupe sim`'s option table). */
static const char *const options[] = {"--delay",     "--jitter",  "--delay-dist", "--loss",
                                      "--dup",       "--reorder", "--detect",     "--op-timeout",
                                      "--heartbeat", "--fd-down"};

static uint64_t draw(tr_sim_rng *rng, knob k) {
    const bound *b = &bounds[k];
    uint64_t z = tr_sim_rng_next(rng), v = tr_sim_rng_next(rng); /* always two (invariant 2) */
    if (b->zero_in != 0 && z % b->zero_in == 0) {
        return 0;
    }
    return b->lo + v % (b->hi - b->lo + 1);
}

void tr__randomize_draw(uint64_t seed, tr_sim_config *sc, uint32_t *op_timeout_ms) {
    TR_ASSERT(sc != NULL && op_timeout_ms != NULL);
    tr_sim_rng rng;
    tr_sim_rng_init(&rng, seed, TR__RANDOMIZE_STREAM);
    uint64_t v[K_COUNT];
    for (int k = 0; k < K_COUNT; k++) {
        v[k] = draw(&rng, (knob)k) * bounds[k].unit;
    }
    sc->nodes = (uint32_t)v[K_NODES];
    sc->link_delay_min_ns = v[K_DELAY];
    sc->link_delay_mean_ns = v[K_JITTER];
    sc->delay_dist = (tr_sim_delay_dist)v[K_DIST];
    sc->loss_prob = (double)v[K_LOSS] / PPM;
    sc->dup_prob = (double)v[K_DUP] / PPM;
    sc->reorder_prob = (double)v[K_REORDER] / PPM;
    sc->failure_detect_ns = v[K_DETECT];
    *op_timeout_ms = (uint32_t)v[K_OP_TIMEOUT];
    sc->heartbeat_ms = (uint32_t)v[K_HEARTBEAT];
    sc->fd_down_ms = (uint32_t)v[K_FD_DOWN];
    TR_ASSERT(sc->nodes >= bounds[K_NODES].lo && sc->nodes <= bounds[K_NODES].hi);
}

bool tr__randomize_is_option(const char *name) {
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        if (strcmp(options[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* "120us", "3ms", "0ns", "2s": a whole number and a unit, at most max_ns. */
static int parse_ns(const char *s, uint64_t max_ns, uint64_t *out) {
    char *end;
    if (*s < '0' || *s > '9') {
        return TR_EINVAL;
    }
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    uint64_t unit = !strcmp(end, "ns")   ? 1
                    : !strcmp(end, "us") ? US
                    : !strcmp(end, "ms") ? MS
                    : !strcmp(end, "s")  ? SEC
                                         : 0;
    if (errno != 0 || unit == 0 || n > max_ns / unit) {
        return TR_EINVAL;
    }
    *out = (uint64_t)n * unit;
    return 0;
}

static int parse_prob(const char *s, double *out) {
    char *end;
    if ((*s < '0' || *s > '9') && *s != '.') {
        return TR_EINVAL;
    }
    errno = 0;
    double p = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(p >= 0 && p <= 1)) {
        return TR_EINVAL;
    }
    *out = p;
    return 0;
}

static int parse_dist(const char *s, tr_sim_delay_dist *out) {
    for (size_t i = 0; i < sizeof dist_names / sizeof dist_names[0]; i++) {
        if (strcmp(s, dist_names[i]) == 0) {
            *out = (tr_sim_delay_dist)i;
            return 0;
        }
    }
    return TR_EINVAL;
}

int tr__randomize_parse(const char *name, const char *value, tr_sim_config *sc,
                        uint32_t *op_timeout_ms) {
    TR_ASSERT(tr__randomize_is_option(name) && value != NULL);
    uint64_t ns;
    if (!strcmp(name, "--delay")) {
        return parse_ns(value, 10 * SEC, &sc->link_delay_min_ns);
    }
    if (!strcmp(name, "--jitter")) {
        return parse_ns(value, 10 * SEC, &sc->link_delay_mean_ns);
    }
    if (!strcmp(name, "--delay-dist")) {
        return parse_dist(value, &sc->delay_dist);
    }
    if (!strcmp(name, "--loss")) {
        return parse_prob(value, &sc->loss_prob);
    }
    if (!strcmp(name, "--dup")) {
        return parse_prob(value, &sc->dup_prob);
    }
    if (!strcmp(name, "--reorder")) {
        return parse_prob(value, &sc->reorder_prob);
    }
    if (!strcmp(name, "--detect")) {
        return parse_ns(value, 60 * SEC, &sc->failure_detect_ns);
    }
    if (!strcmp(name, "--heartbeat") || !strcmp(name, "--fd-down")) {
        bool beat = !strcmp(name, "--heartbeat");
        if (parse_ns(value, (beat ? 10 : 600) * SEC, &ns) != 0 || ns < MS || ns % MS != 0) {
            return TR_EINVAL;
        }
        *(beat ? &sc->heartbeat_ms : &sc->fd_down_ms) = (uint32_t)(ns / MS);
        return 0;
    }
    TR_ASSERT(!strcmp(name, "--op-timeout"));
    if (parse_ns(value, 600 * SEC, &ns) != 0 || ns < MS || ns % MS != 0) {
        return TR_EINVAL;
    }
    *op_timeout_ms = (uint32_t)(ns / MS);
    return 0;
}

void tr__randomize_copy(const tr_sim_config *from, tr_sim_config *to) {
    to->link_delay_min_ns = from->link_delay_min_ns;
    to->link_delay_mean_ns = from->link_delay_mean_ns;
    to->delay_dist = from->delay_dist;
    to->loss_prob = from->loss_prob;
    to->dup_prob = from->dup_prob;
    to->reorder_prob = from->reorder_prob;
    to->failure_detect_ns = from->failure_detect_ns;
    to->heartbeat_ms = from->heartbeat_ms;
    to->fd_down_ms = from->fd_down_ms;
    to->buggify = from->buggify;
}

/* A duration in the largest unit that writes it exactly. */
static size_t put_ns(char *buf, size_t cap, const char *option, uint64_t ns) {
    return (size_t)(ns % US != 0   ? snprintf(buf, cap, " %s %" PRIu64 "ns", option, ns)
                    : ns % MS != 0 ? snprintf(buf, cap, " %s %" PRIu64 "us", option, ns / US)
                                   : snprintf(buf, cap, " %s %" PRIu64 "ms", option, ns / MS));
}

/* A probability: whole parts per million in six decimals (exact, invariant 3), else 17
 * significant digits (which read back as the same double). */
static size_t put_prob(char *buf, size_t cap, const char *option, double p) {
    double ppm = p * PPM;
    bool whole = ppm == (double)(uint64_t)ppm && (double)(uint64_t)ppm / PPM == p;
    return (size_t)(whole ? snprintf(buf, cap, " %s %.6f", option, p)
                          : snprintf(buf, cap, " %s %.17g", option, p));
}

size_t tr__randomize_format(const tr_sim_config *sc, uint32_t op_timeout_ms, char *buf,
                            size_t cap) {
    TR_ASSERT(sc != NULL && (buf != NULL || cap == 0));
    tr_sim_config d;
    tr_sim_config_init(&d);
    char tmp[96];
    size_t len = 0;
    if (cap > 0) {
        buf[0] = '\0';
    }
#define PUT(expr)                           \
    do {                                    \
        size_t n_ = (expr);                 \
        if (len + n_ < cap) {               \
            memcpy(buf + len, tmp, n_ + 1); \
        }                                   \
        len += n_;                          \
    } while (0)
    if (sc->link_delay_min_ns != d.link_delay_min_ns) {
        PUT(put_ns(tmp, sizeof tmp, "--delay", sc->link_delay_min_ns));
    }
    if (sc->link_delay_mean_ns != d.link_delay_mean_ns) {
        PUT(put_ns(tmp, sizeof tmp, "--jitter", sc->link_delay_mean_ns));
    }
    if (sc->delay_dist != d.delay_dist && (size_t)sc->delay_dist < 3) {
        PUT((size_t)snprintf(tmp, sizeof tmp, " --delay-dist %s", dist_names[sc->delay_dist]));
    }
    if (sc->loss_prob != d.loss_prob) {
        PUT(put_prob(tmp, sizeof tmp, "--loss", sc->loss_prob));
    }
    if (sc->dup_prob != d.dup_prob) {
        PUT(put_prob(tmp, sizeof tmp, "--dup", sc->dup_prob));
    }
    if (sc->reorder_prob != d.reorder_prob) {
        PUT(put_prob(tmp, sizeof tmp, "--reorder", sc->reorder_prob));
    }
    if (sc->failure_detect_ns != d.failure_detect_ns) {
        PUT(put_ns(tmp, sizeof tmp, "--detect", sc->failure_detect_ns));
    }
    if (op_timeout_ms != OP_TIMEOUT_DEFAULT_MS) {
        PUT((size_t)snprintf(tmp, sizeof tmp, " --op-timeout %ums", op_timeout_ms));
    }
    if (sc->heartbeat_ms != d.heartbeat_ms) {
        PUT((size_t)snprintf(tmp, sizeof tmp, " --heartbeat %" PRIu32 "ms", sc->heartbeat_ms));
    }
    if (sc->fd_down_ms != d.fd_down_ms) {
        PUT((size_t)snprintf(tmp, sizeof tmp, " --fd-down %" PRIu32 "ms", sc->fd_down_ms));
    }
    if (sc->buggify) {
        PUT((size_t)snprintf(tmp, sizeof tmp, " --buggify"));
    }
#undef PUT
    return len;
}

int tr__randomize_experiment(const tr_experiment_config *cfg, tr_experiment_config *out, char *err,
                             size_t err_cap) {
    TR_ASSERT(cfg != NULL && out != NULL && cfg->randomize);
    if (cfg->nemesis.scenario_path != NULL) {
        snprintf(err, err_cap,
                 "--randomize draws the node count: it cannot run a scenario file, "
                 "which names nodes");
        return TR_EINVAL;
    }
    *out = *cfg;
    out->randomize = false;
    tr__randomize_draw(cfg->sim.seed, &out->sim, &out->op_timeout_ms);
    return 0;
}
