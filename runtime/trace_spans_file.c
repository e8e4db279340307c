/*
 * trace_spans_file.c — spans as Zipkin v2 JSON (trace_spans.h), and the actor that writes a
 * real node's spans periodically.
 *
 * The file is one JSON array at every moment between appends: it is created as "[\n]\n" and
 * each append seeks back over the closing "]\n", writes its spans and closes the array again,
 * so a reader (or Zipkin's POST /api/v2/spans) can take it while the node still runs.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "runtime/trace_spans.h"

#define CLOSE "]\n"
#define DRAIN_CHUNK 64

int tr__span_file_open(tr__span_file *sf, const char *path, bool wall) {
    memset(sf, 0, sizeof *sf);
    if (wall) { /* the real engine's clock is CLOCK_MONOTONIC (engine_real.c) */
        struct timespec rt, mono;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        sf->offset_ns = ((int64_t)rt.tv_sec - (int64_t)mono.tv_sec) * 1000000000 +
                        ((int64_t)rt.tv_nsec - (int64_t)mono.tv_nsec);
    }
    sf->f = fopen(path, "w+");
    if (sf->f == NULL) {
        return TR_EIO;
    }
    if (fputs("[\n" CLOSE, sf->f) == EOF || fflush(sf->f) != 0) {
        fclose(sf->f);
        sf->f = NULL;
        return TR_EIO;
    }
    return 0;
}

static void put_hex(FILE *f, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%02x", b[i]);
    }
}

/* A JSON string of s: quotes and backslashes escaped, control bytes as \u00XX. */
static void put_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static bool all_zero(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (b[i]) {
            return false;
        }
    }
    return true;
}

/* One Zipkin v2 span object. Times in microseconds; a duration under one is rounded up. */
static void put_span(FILE *f, const tr__span *s, int64_t offset_ns) {
    int64_t start = (int64_t)s->start_ns + offset_ns;
    uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
    fputs("{\"traceId\":\"", f);
    put_hex(f, s->trace_id, 16);
    fputs("\",\"id\":\"", f);
    put_hex(f, s->id, 8);
    if (!all_zero(s->parent, 8)) {
        fputs("\",\"parentId\":\"", f);
        put_hex(f, s->parent, 8);
    }
    fprintf(f, "\",\"kind\":\"%s\",\"name\":", s->server ? "SERVER" : "CONSUMER");
    char name[TR__SPAN_NAME_MAX + 16];
    if (s->server) {
        snprintf(name, sizeof name, "%s", s->name);
    } else {
        snprintf(name, sizeof name, "%s/%" PRIu32, s->name, s->type);
    }
    put_str(f, name);
    fprintf(f, ",\"timestamp\":%" PRId64 ",\"duration\":%" PRIu64 ",\"localEndpoint\":{",
            start > 0 ? start / 1000 : 0, dur ? dur : 1);
    fputs("\"serviceName\":", f);
    put_str(f, s->node_name);
    if (s->server) {
        fputs("}}", f);
        return;
    }
    fprintf(f,
            "},\"tags\":{\"troupe.actor\":\"%" PRIu32 ".%" PRIu64 "\",\"troupe.from\":\"%" PRIu32
            ".%" PRIu64 "\",\"troupe.type\":\"%" PRIu32 "\"}}",
            s->actor.node, s->actor.actor, s->from.node, s->from.actor, s->type);
}

int tr__span_file_append(tr__span_file *sf, const tr__span *spans, uint32_t n) {
    if (sf->f == NULL) {
        return TR_EIO;
    }
    if (n == 0) {
        return 0;
    }
    if (fseek(sf->f, -(long)strlen(CLOSE), SEEK_END) != 0) {
        return TR_EIO;
    }
    for (uint32_t i = 0; i < n; i++) {
        fputs(sf->written + i ? ",\n" : "", sf->f);
        put_span(sf->f, &spans[i], sf->offset_ns);
    }
    sf->written += n;
    fputs("\n" CLOSE, sf->f);
    return fflush(sf->f) == 0 && !ferror(sf->f) ? 0 : TR_EIO;
}

int tr__span_file_drain(tr__span_file *sf, tr__spans *sp) {
    tr__span chunk[DRAIN_CHUNK];
    uint32_t n;
    while ((n = tr__spans_take(sp, chunk, DRAIN_CHUNK)) > 0) {
        int rc = tr__span_file_append(sf, chunk, n);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int tr__span_file_close(tr__span_file *sf) {
    if (sf->f == NULL) {
        return 0;
    }
    int rc = ferror(sf->f) ? TR_EIO : 0;
    if (fclose(sf->f) != 0) {
        rc = TR_EIO;
    }
    sf->f = NULL;
    return rc;
}

/* ---- the writer actor --------------------------------------------------------------- */

typedef struct writer_arg {
    tr__spans *sp;
    tr__span_file *sf;
    uint32_t period_ms;
} writer_arg;

enum {
    WRITER_TICK = 1
};

static int writer_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    if (len != sizeof(writer_arg)) {
        return TR_EINVAL;
    }
    memcpy(state, arg, sizeof(writer_arg));
    const writer_arg *w = state;
    return tr_timer_start(ctx, w->period_ms, w->period_ms, WRITER_TICK, NULL);
}

static int writer_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    (void)ctx;
    const writer_arg *w = state;
    if (m->type == WRITER_TICK) {
        (void)tr__span_file_drain(w->sf, w->sp); /* a failed write shows at close */
    }
    return TR_CONTINUE;
}

static const tr_behaviour writer_behaviour = {
    .name = "trace_spans_writer",
    .state_size = sizeof(writer_arg),
    .init = writer_init,
    .receive = writer_receive,
};

int tr__span_file_writer_spawn(tr_node *node, tr__spans *sp, tr__span_file *sf,
                               uint32_t period_ms) {
    writer_arg w = {.sp = sp, .sf = sf, .period_ms = period_ms};
    return tr_node_spawn(node, &writer_behaviour, NULL, &w, sizeof w, NULL);
}
