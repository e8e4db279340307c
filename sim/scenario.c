/* scenario.c — the fault-schedule line format (see scenario.h for the grammar). */
#include "sim/scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"

#define TOKENS_MAX 8
#define DAY_NS 86400000000000.0

typedef struct parser {
    uint32_t nodes;
    uint32_t line;
    char *err;
    size_t err_cap;
} parser;

static int fail(parser *p, const char *fmt, ...) {
    int n = snprintf(p->err, p->err_cap, "line %u: ", p->line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < p->err_cap) {
        vsnprintf(p->err + n, p->err_cap - (size_t)n, fmt, ap);
    }
    va_end(ap);
    return TR_EINVAL;
}

/* "1.5s", "200ms", "+3us", "-50ms", "2m", "10ns". Signed only if `sign_ok`. */
static int parse_time(parser *p, const char *s, bool sign_ok, const char *what, int64_t *out) {
    const char *t = s;
    bool neg = false;
    if (*t == '+' || *t == '-') {
        if (!sign_ok) {
            return fail(p, "%s '%s' cannot have a sign", what, s);
        }
        neg = *t == '-';
        t++;
    }
    if (*t < '0' || *t > '9') {
        return fail(p, "bad %s '%s' (want e.g. 10s, 250ms)", what, s);
    }
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}};
    double mult = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            mult = units[i].ns;
        }
    }
    if (mult == 0) {
        return fail(p, "bad %s '%s': the unit must be ns, us, ms, s or m", what, s);
    }
    if (errno != 0 || v * mult > DAY_NS) {
        return fail(p, "%s '%s' is out of range (at most a day)", what, s);
    }
    int64_t ns = (int64_t)(v * mult + 0.5);
    *out = neg ? -ns : ns;
    return 0;
}

/* "n3" -> 2; "*" -> TR_SIM_ANY if any_ok. */
static int parse_node(parser *p, const char *s, bool any_ok, uint32_t *out) {
    if (any_ok && strcmp(s, "*") == 0) {
        *out = TR_SIM_ANY;
        return 0;
    }
    uint32_t id = 0;
    const char *t = s + 1;
    if (s[0] != 'n' || *t < '1' || *t > '9') {
        return fail(p, "bad node '%s' (want n1..n%u%s)", s, p->nodes, any_ok ? " or *" : "");
    }
    for (; *t; t++) {
        if (*t < '0' || *t > '9' || id > p->nodes) {
            return fail(p, "bad node '%s' (want n1..n%u)", s, p->nodes);
        }
        id = id * 10 + (uint32_t)(*t - '0');
    }
    if (id > p->nodes) {
        return fail(p, "node '%s' does not exist (the cluster has n1..n%u)", s, p->nodes);
    }
    *out = id - 1;
    return 0;
}

/* "n1->n2", "n1->*", "*->n2". */
static int parse_link(parser *p, const char *s, uint32_t *from, uint32_t *to) {
    const char *arrow = strstr(s, "->");
    char left[32];
    if (arrow == NULL || (size_t)(arrow - s) >= sizeof left) {
        return fail(p, "bad link '%s' (want nA->nB, * for any)", s);
    }
    memcpy(left, s, (size_t)(arrow - s));
    left[arrow - s] = '\0';
    int rc = parse_node(p, left, true, from);
    if (rc == 0) {
        rc = parse_node(p, arrow + 2, true, to);
    }
    if (rc == 0 && *from == *to && *from != TR_SIM_ANY) {
        return fail(p, "link '%s' goes from a node to itself", s);
    }
    return rc;
}

/* "n1,n2" -> mask. */
static int parse_side(parser *p, char *s, uint64_t *mask) {
    *mask = 0;
    if (*s == '\0') {
        return fail(p, "a partition side is empty");
    }
    for (char *save = NULL, *tok = strtok_r(s, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        uint32_t i;
        int rc = parse_node(p, tok, false, &i);
        if (rc != 0) {
            return rc;
        }
        if (*mask >> i & 1) {
            return fail(p, "node '%s' is listed twice", tok);
        }
        *mask |= 1ull << i;
    }
    return *mask != 0 ? 0 : fail(p, "a partition side is empty");
}

/* "n1,n2|n3,n4,n5": every node on exactly one side, both sides non-empty. */
static int parse_sides(parser *p, const char *s, uint64_t *mask) {
    char buf[TR_SCENARIO_LINE_MAX];
    const char *bar = strchr(s, '|');
    if (bar == NULL || strchr(bar + 1, '|') != NULL || strlen(s) >= sizeof buf) {
        return fail(p, "bad partition '%s' (want halves, or sides like n1,n2|n3,n4,n5)", s);
    }
    snprintf(buf, sizeof buf, "%s", s);
    buf[bar - s] = '\0';
    uint64_t a, b;
    int rc = parse_side(p, buf, &a);
    if (rc == 0) {
        rc = parse_side(p, buf + (bar - s) + 1, &b);
    }
    if (rc != 0) {
        return rc;
    }
    uint64_t all = p->nodes == 64 ? UINT64_MAX : (1ull << p->nodes) - 1;
    if (a & b) {
        return fail(p, "a node is on both sides of '%s'", s);
    }
    if ((a | b) != all) {
        for (uint32_t i = 0; i < p->nodes; i++) {
            if (!((a | b) >> i & 1)) {
                return fail(p, "node n%u is on neither side of '%s'", i + 1, s);
            }
        }
    }
    *mask = a;
    return 0;
}

static int want_args(parser *p, const char *action, int have, int want, const char *usage) {
    if (have != want) {
        return fail(p, "'%s' takes %s", action, usage);
    }
    return 0;
}

static int parse_ppm(parser *p, const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || strcmp(end, "ppm") != 0 || errno != 0 || v < -500000 || v > 500000) {
        return fail(p, "bad drift '%s' (want e.g. 500ppm or -200ppm, |ppm| <= 500000)", s);
    }
    *out = v;
    return 0;
}

/* "for DURATION" at tok[k], tok[k + 1]. */
static int parse_for(parser *p, char **tok, int k, uint64_t *dur) {
    int64_t v = 0;
    if (strcmp(tok[k], "for") != 0) {
        return fail(p, "expected 'for' and a duration, got '%s'", tok[k]);
    }
    int rc = parse_time(p, tok[k + 1], false, "duration", &v);
    if (rc == 0 && v == 0) {
        rc = fail(p, "a duration of 0 does nothing");
    }
    *dur = (uint64_t)v;
    return rc;
}

/* The storage faults; 1 if tok[1] is none of them. */
static int parse_storage(parser *p, char **tok, int n, tr_scen_event *ev) {
    const char *act = tok[1];
    int args = n - 2, rc;
    if (strcmp(act, "io-error") == 0 || strcmp(act, "disk-full") == 0) {
        ev->kind = act[0] == 'i' ? TR_SCEN_IO_ERROR : TR_SCEN_DISK_FULL;
        rc = want_args(p, act, args, 3, "a node, 'for' and a duration, e.g. n2 for 1s");
        rc = rc ? rc : parse_node(p, tok[2], false, &ev->a);
        return rc ? rc : parse_for(p, tok, 3, &ev->dur_ns);
    }
    if (strcmp(act, "slow-disk") == 0) {
        int64_t extra = 0;
        ev->kind = TR_SCEN_SLOW_DISK;
        rc = want_args(p, act, args, 4,
                       "a node, the extra commit latency, 'for' and a duration, "
                       "e.g. n2 200ms for 2s");
        rc = rc ? rc : parse_node(p, tok[2], false, &ev->a);
        rc = rc ? rc : parse_time(p, tok[3], false, "latency", &extra);
        ev->extra_ns = (uint64_t)extra;
        return rc ? rc : parse_for(p, tok, 4, &ev->dur_ns);
    }
    if (strcmp(act, "corrupt") == 0) {
        ev->kind = TR_SCEN_CORRUPT;
        rc = want_args(p, act, args, 1, "one node, e.g. n3");
        return rc ? rc : parse_node(p, tok[2], false, &ev->a);
    }
    return 1;
}

/* tok[0] time, tok[1] action, tok[2..n) arguments. */
static int parse_event(parser *p, char **tok, int n, tr_scen_event *ev) {
    int64_t at;
    int rc = parse_time(p, tok[0], false, "time", &at);
    if (rc != 0) {
        return rc;
    }
    if (n < 2) {
        return fail(p, "a time needs a fault after it");
    }
    *ev = (tr_scen_event){.at_ns = (uint64_t)at, .line = p->line, .a = TR_SIM_ANY, .b = TR_SIM_ANY};
    const char *act = tok[1];
    int args = n - 2;
    static const struct {
        const char *name;
        tr_scen_kind kind;
    } simple[] = {{"ring", TR_SCEN_RING}, {"bridge", TR_SCEN_BRIDGE}, {"heal", TR_SCEN_HEAL}};
    static const struct {
        const char *name;
        tr_scen_kind kind;
    } one_node[] = {{"isolate", TR_SCEN_ISOLATE},
                    {"crash", TR_SCEN_CRASH},
                    {"restart", TR_SCEN_RESTART},
                    {"pause", TR_SCEN_PAUSE},
                    {"resume", TR_SCEN_RESUME}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        if (strcmp(act, simple[i].name) == 0) {
            ev->kind = simple[i].kind;
            return want_args(p, act, args, 0, "no arguments");
        }
    }
    for (size_t i = 0; i < sizeof one_node / sizeof one_node[0]; i++) {
        if (strcmp(act, one_node[i].name) == 0) {
            ev->kind = one_node[i].kind;
            rc = want_args(p, act, args, 1, "one node, e.g. n2");
            return rc ? rc : parse_node(p, tok[2], false, &ev->a);
        }
    }
    if (strcmp(act, "partition") == 0) {
        rc = want_args(p, act, args, 1, "'halves' or sides like n1,n2|n3,n4,n5");
        if (rc == 0 && strcmp(tok[2], "halves") == 0) {
            ev->kind = TR_SCEN_PARTITION_HALVES;
            return 0;
        }
        ev->kind = TR_SCEN_PARTITION;
        return rc ? rc : parse_sides(p, tok[2], &ev->mask);
    }
    if (strcmp(act, "oneway") == 0) {
        ev->kind = TR_SCEN_ONEWAY;
        rc = want_args(p, act, args, 1, "a link, e.g. n1->n3");
        return rc ? rc : parse_link(p, tok[2], &ev->a, &ev->b);
    }
    if (strcmp(act, "clock-skew") == 0 || strcmp(act, "clock-jump") == 0) {
        ev->kind = act[6] == 's' ? TR_SCEN_CLOCK_SKEW : TR_SCEN_CLOCK_JUMP;
        rc = want_args(p, act, args, 2, "a node and an offset, e.g. n1 +200ms");
        rc = rc ? rc : parse_node(p, tok[2], false, &ev->a);
        return rc ? rc : parse_time(p, tok[3], true, "offset", &ev->value);
    }
    if (strcmp(act, "clock-drift") == 0) {
        ev->kind = TR_SCEN_CLOCK_DRIFT;
        rc = want_args(p, act, args, 2, "a node and a rate, e.g. n2 500ppm");
        rc = rc ? rc : parse_node(p, tok[2], false, &ev->a);
        return rc ? rc : parse_ppm(p, tok[3], &ev->value);
    }
    if (strcmp(act, "delay-spike") == 0) {
        ev->kind = TR_SCEN_DELAY_SPIKE;
        int64_t extra = 0, dur = 0;
        rc = want_args(p, act, args, 4,
                       "a link, a delay, 'for' and a duration, "
                       "e.g. n1->n2 50ms for 2s");
        rc = rc ? rc : parse_link(p, tok[2], &ev->a, &ev->b);
        rc = rc ? rc : parse_time(p, tok[3], false, "delay", &extra);
        if (rc == 0 && strcmp(tok[4], "for") != 0) {
            rc = fail(p, "expected 'for' after the delay, got '%s'", tok[4]);
        }
        rc = rc ? rc : parse_time(p, tok[5], false, "duration", &dur);
        ev->extra_ns = (uint64_t)extra;
        ev->dur_ns = (uint64_t)dur;
        return rc;
    }
    rc = parse_storage(p, tok, n, ev);
    if (rc != 1) {
        return rc;
    }
    return fail(p,
                "unknown fault '%s' (partition, isolate, ring, bridge, oneway, heal, crash, "
                "restart, pause, resume, clock-skew, clock-jump, clock-drift, delay-spike, "
                "io-error, disk-full, slow-disk, corrupt)",
                act);
}

/* Splits a line (modified in place) into at most TOKENS_MAX words; a '#' ends it. */
static int tokenize(parser *p, char *line, char **tok, int *n) {
    char *hash = strchr(line, '#');
    if (hash != NULL) {
        *hash = '\0';
    }
    *n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t != NULL;
         t = strtok_r(NULL, " \t\r", &save)) {
        if (*n == TOKENS_MAX) {
            return fail(p, "too many words");
        }
        tok[(*n)++] = t;
    }
    return 0;
}

static int push(tr_scenario *s, const tr_scen_event *ev) {
    if (s->count == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 16;
        tr_scen_event *e = realloc(s->events, c * sizeof *e);
        if (e == NULL) {
            return TR_ENOMEM;
        }
        s->events = e;
        s->cap = c;
    }
    s->events[s->count++] = *ev;
    return 0;
}

static int parse_line(parser *p, char *line, tr_scenario *out) {
    char *tok[TOKENS_MAX];
    int n;
    int rc = tokenize(p, line, tok, &n);
    if (rc != 0 || n == 0) {
        return rc;
    }
    if (out->count == TR_SCENARIO_EVENTS_MAX) {
        return fail(p, "more than %d faults", TR_SCENARIO_EVENTS_MAX);
    }
    tr_scen_event ev;
    rc = parse_event(p, tok, n, &ev);
    if (rc == 0) {
        rc = push(out, &ev);
        if (rc != 0) {
            snprintf(p->err, p->err_cap, "out of memory");
        }
    }
    return rc;
}

int tr__scenario_parse(const char *text, size_t len, uint32_t nodes, tr_scenario *out, char *err,
                       size_t err_cap) {
    TR_ASSERT(out != NULL && err != NULL && err_cap > 0);
    TR_ASSERT(text != NULL || len == 0);
    TR_ASSERT(nodes >= 1 && nodes <= TR_SIM_NODES_MAX);
    parser p = {.nodes = nodes, .line = 0, .err = err, .err_cap = err_cap};
    char line[TR_SCENARIO_LINE_MAX + 1];
    *out = (tr_scenario){0};
    err[0] = '\0';
    size_t pos = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        p.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (n > TR_SCENARIO_LINE_MAX) {
            rc = fail(&p, "longer than %d bytes", TR_SCENARIO_LINE_MAX);
        } else if (memchr(text + pos, '\0', n) != NULL) {
            rc = fail(&p, "contains a NUL byte");
        } else {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            rc = parse_line(&p, line, out);
        }
        pos += n + (nl != NULL);
    }
    if (rc != 0) {
        tr__scenario_free(out);
    }
    return rc;
}

void tr__scenario_free(tr_scenario *s) {
    if (s != NULL) {
        free(s->events);
        *s = (tr_scenario){0};
    }
}

int tr__scenario_apply(tr_sim *sim, const tr_scen_event *ev) {
    switch (ev->kind) {
    case TR_SCEN_PARTITION_HALVES: return tr_sim_partition_halves(sim);
    case TR_SCEN_PARTITION: return tr_sim_partition(sim, ev->mask);
    case TR_SCEN_ISOLATE: return tr_sim_isolate(sim, ev->a);
    case TR_SCEN_RING: return tr_sim_partition_ring(sim);
    case TR_SCEN_BRIDGE: return tr_sim_partition_bridge(sim);
    case TR_SCEN_ONEWAY: return tr_sim_link_cut(sim, ev->a, ev->b);
    case TR_SCEN_HEAL: return tr_sim_heal(sim);
    case TR_SCEN_CRASH: return tr_sim_crash(sim, ev->a);
    case TR_SCEN_RESTART: return tr_sim_restart(sim, ev->a);
    case TR_SCEN_PAUSE: return tr_sim_pause(sim, ev->a);
    case TR_SCEN_RESUME: return tr_sim_resume(sim, ev->a);
    case TR_SCEN_CLOCK_SKEW: return tr_sim_clock_skew(sim, ev->a, ev->value);
    case TR_SCEN_CLOCK_JUMP: return tr_sim_clock_jump(sim, ev->a, ev->value);
    case TR_SCEN_CLOCK_DRIFT: return tr_sim_clock_drift(sim, ev->a, (int32_t)ev->value);
    case TR_SCEN_DELAY_SPIKE:
        return tr_sim_delay_spike(sim, ev->a, ev->b, ev->extra_ns, ev->dur_ns);
    case TR_SCEN_IO_ERROR: return tr_sim_disk_fail(sim, ev->a, TR_EIO);
    case TR_SCEN_DISK_FULL: return tr_sim_disk_fail(sim, ev->a, TR_ENOSPC);
    case TR_SCEN_SLOW_DISK: return tr_sim_disk_slow(sim, ev->a, ev->extra_ns);
    case TR_SCEN_CORRUPT: return tr_sim_disk_corrupt(sim, ev->a);
    }
    return TR_EINVAL;
}

int tr__scenario_append(tr_scenario *s, const tr_scen_event *ev) {
    TR_ASSERT(s != NULL && ev != NULL);
    return s->count == TR_SCENARIO_EVENTS_MAX ? TR_EFULL : push(s, ev);
}

/* ---- writing events back as lines ------------------------------------------------------- */

/* ns as seconds with the trailing zeros of the nine decimals dropped: "12.5s", "3s". */
static void format_time(char *buf, size_t cap, uint64_t ns) {
    char frac[16];
    snprintf(frac, sizeof frac, "%09llu", (unsigned long long)(ns % 1000000000u));
    size_t n = strlen(frac);
    while (n > 0 && frac[n - 1] == '0') {
        frac[--n] = '\0';
    }
    snprintf(buf, cap, "%llu%s%ss", (unsigned long long)(ns / 1000000000u), n ? "." : "", frac);
}

static void format_node(char *buf, size_t cap, uint32_t i) {
    if (i == TR_SIM_ANY) {
        snprintf(buf, cap, "*");
    } else {
        snprintf(buf, cap, "n%u", i + 1);
    }
}

/* "n1,n2|n3,n4,n5": side A is mask. */
static void format_sides(char *buf, size_t cap, uint64_t mask, uint32_t nodes) {
    size_t len = 0;
    for (int side = 1; side >= 0; side--) {
        bool first = true;
        for (uint32_t i = 0; i < nodes && len < cap; i++) {
            if ((int)(mask >> i & 1) == side) {
                len += (size_t)snprintf(buf + len, cap - len, "%sn%u", first ? "" : ",", i + 1);
                first = false;
            }
        }
        if (side == 1 && len < cap) {
            len += (size_t)snprintf(buf + len, cap - len, "|");
        }
    }
}

static const char *const kind_words[] = {
    [TR_SCEN_PARTITION_HALVES] = "partition halves",
    [TR_SCEN_PARTITION] = "partition",
    [TR_SCEN_ISOLATE] = "isolate",
    [TR_SCEN_RING] = "ring",
    [TR_SCEN_BRIDGE] = "bridge",
    [TR_SCEN_ONEWAY] = "oneway",
    [TR_SCEN_HEAL] = "heal",
    [TR_SCEN_CRASH] = "crash",
    [TR_SCEN_RESTART] = "restart",
    [TR_SCEN_PAUSE] = "pause",
    [TR_SCEN_RESUME] = "resume",
    [TR_SCEN_CLOCK_SKEW] = "clock-skew",
    [TR_SCEN_CLOCK_JUMP] = "clock-jump",
    [TR_SCEN_CLOCK_DRIFT] = "clock-drift",
    [TR_SCEN_DELAY_SPIKE] = "delay-spike",
    [TR_SCEN_IO_ERROR] = "io-error",
    [TR_SCEN_DISK_FULL] = "disk-full",
    [TR_SCEN_SLOW_DISK] = "slow-disk",
    [TR_SCEN_CORRUPT] = "corrupt",
};

/* The arguments after the fault's name, into args[cap]. */
static void format_args(const tr_scen_event *ev, uint32_t nodes, char *args, size_t cap) {
    char a[16], b[16], t1[32], t2[32];
    format_node(a, sizeof a, ev->a);
    format_node(b, sizeof b, ev->b);
    uint64_t offset = ev->value < 0 ? 0 - (uint64_t)ev->value : (uint64_t)ev->value;
    args[0] = '\0';
    switch (ev->kind) {
    case TR_SCEN_PARTITION: format_sides(args, cap, ev->mask, nodes); break;
    case TR_SCEN_ONEWAY: snprintf(args, cap, "%s->%s", a, b); break;
    case TR_SCEN_CLOCK_SKEW:
    case TR_SCEN_CLOCK_JUMP:
        format_time(t1, sizeof t1, offset);
        snprintf(args, cap, "%s %c%s", a, ev->value < 0 ? '-' : '+', t1);
        break;
    case TR_SCEN_CLOCK_DRIFT: snprintf(args, cap, "%s %lldppm", a, (long long)ev->value); break;
    case TR_SCEN_DELAY_SPIKE:
        format_time(t1, sizeof t1, ev->extra_ns);
        format_time(t2, sizeof t2, ev->dur_ns);
        snprintf(args, cap, "%s->%s %s for %s", a, b, t1, t2);
        break;
    case TR_SCEN_IO_ERROR:
    case TR_SCEN_DISK_FULL:
        format_time(t2, sizeof t2, ev->dur_ns);
        snprintf(args, cap, "%s for %s", a, t2);
        break;
    case TR_SCEN_SLOW_DISK:
        format_time(t1, sizeof t1, ev->extra_ns);
        format_time(t2, sizeof t2, ev->dur_ns);
        snprintf(args, cap, "%s %s for %s", a, t1, t2);
        break;
    case TR_SCEN_ISOLATE:
    case TR_SCEN_CRASH:
    case TR_SCEN_RESTART:
    case TR_SCEN_PAUSE:
    case TR_SCEN_RESUME:
    case TR_SCEN_CORRUPT: snprintf(args, cap, "%s", a); break;
    default: break; /* halves, ring, bridge, heal: no arguments */
    }
}

int tr__scenario_format(const tr_scen_event *ev, uint32_t nodes, char *buf, size_t cap) {
    TR_ASSERT(ev != NULL && (size_t)ev->kind < sizeof kind_words / sizeof kind_words[0]);
    TR_ASSERT(nodes >= 1 && nodes <= TR_SIM_NODES_MAX);
    char at[32], args[TR_SCENARIO_LINE_MAX];
    format_time(at, sizeof at, ev->at_ns);
    format_args(ev, nodes, args, sizeof args);
    return snprintf(buf, cap, "%s %s%s%s", at, kind_words[ev->kind], args[0] ? " " : "", args);
}
