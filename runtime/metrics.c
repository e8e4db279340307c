/* metrics.c — per-type and dead-letter counters and the Prometheus text (metrics.h). */
#include "runtime/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/actor.h"
#include "runtime/assert.h"
#include "runtime/internal.h"
#include "runtime/store.h"

/* The last uid given to a node's metrics. relaxed: only uniqueness is needed. */
static _Atomic uint64_t last_uid;

void tr__metrics_init(tr__metrics_node *m) {
    memset(m, 0, sizeof *m);
    m->uid = atomic_fetch_add_explicit(&last_uid, 1, memory_order_relaxed) + 1;
    pthread_mutex_init(&m->lock, NULL);
    strcpy(m->types[0].name, "other");
}

void tr__metrics_deinit(tr__metrics_node *m) {
    pthread_mutex_destroy(&m->lock);
}

static tr__metrics_type *find(tr__metrics_node *m, const tr_behaviour *b, bool *free_seen) {
    uint32_t row = tr__metrics_home_row(b);
    for (uint32_t i = 0; i < TR__METRICS_TYPES_MAX - 1u; i++) {
        tr__metrics_type *r = &m->types[row];
        const tr_behaviour *k = atomic_load_explicit(&r->beh, memory_order_acquire);
        if (k == b) {
            return r;
        }
        if (!k) {
            *free_seen = true;
            return NULL;
        }
        row = row + 1u < TR__METRICS_TYPES_MAX ? row + 1u : 1u;
    }
    return NULL;
}

tr__metrics_type *tr__metrics_type_probe(tr__metrics_node *m, const tr_behaviour *b) {
    TR_ASSERT(b);
    bool free_seen = false;
    tr__metrics_type *r = find(m, b, &free_seen);
    if (r) {
        return r;
    }
    if (!free_seen) {
        return &m->types[0];
    }
    pthread_mutex_lock(&m->lock);
    free_seen = false;
    r = find(m, b, &free_seen); /* another thread may have added it meanwhile */
    if (!r && free_seen) {
        uint32_t row = tr__metrics_home_row(b);
        while (atomic_load_explicit(&m->types[row].beh, memory_order_relaxed)) {
            row = row + 1u < TR__METRICS_TYPES_MAX ? row + 1u : 1u;
        }
        r = &m->types[row];
        snprintf(r->name, sizeof r->name, "%s", b->name ? b->name : "unnamed");
        atomic_store_explicit(&r->beh, b, memory_order_release); /* invariant 1 */
    }
    pthread_mutex_unlock(&m->lock);
    return r ? r : &m->types[0];
}

int tr__metrics_shard_claim(tr__metrics_node *m, tr__metrics_local *local) {
    const void *token = local;
    int got = -1;
    for (uint32_t i = 0; i < TR__METRICS_SHARDS && got < 0; i++) { /* already this thread's? */
        if (atomic_load_explicit(&m->owners[i], memory_order_acquire) == token) {
            got = (int)i;
        }
    }
    for (uint32_t i = 0; i < TR__METRICS_SHARDS && got < 0; i++) {
        const void *none = NULL;
        /* acq_rel: the claim orders this thread's writes after the previous owner's, if a
         * thread with the same token had it */
        if (atomic_compare_exchange_strong_explicit(&m->owners[i], &none, token,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            got = (int)i;
        }
    }
    *local = got < 0 ? (tr__metrics_local){0, 0} : (tr__metrics_local){m->uid, (uint32_t)got};
    return got;
}

uint64_t tr__metrics_messages_in(const tr__metrics_type *r) {
    uint64_t n = atomic_load_explicit(&r->messages_in, memory_order_relaxed);
    for (uint32_t i = 0; i < TR__METRICS_SHARDS; i++) {
        n += atomic_load_explicit(&r->lanes[i].messages_in, memory_order_relaxed);
    }
    return n;
}

uint64_t tr__metrics_messages_out(const tr__metrics_type *r) {
    uint64_t n = atomic_load_explicit(&r->messages_out, memory_order_relaxed);
    for (uint32_t i = 0; i < TR__METRICS_SHARDS; i++) {
        n += atomic_load_explicit(&r->lanes[i].messages_out, memory_order_relaxed);
    }
    return n;
}

uint64_t tr__metrics_delivered(const tr__metrics_node *m) {
    uint64_t n = tr__metrics_messages_in(&m->types[0]);
    for (uint32_t row = 1; row < TR__METRICS_TYPES_MAX; row++) {
        /* a free row has counted nothing: its behaviour is stored before any count */
        if (atomic_load_explicit(&m->types[row].beh, memory_order_acquire)) {
            n += tr__metrics_messages_in(&m->types[row]);
        }
    }
    return n;
}

const char *tr__metrics_dead_reason_name(tr__dead_reason r) {
    static const char *const names[TR__DEAD_REASONS] = {"no_actor", "mailbox_full", "unreachable",
                                                        "stopped"};
    TR_ASSERT((unsigned)r < TR__DEAD_REASONS);
    return names[r];
}

void tr__metrics_printf(tr__metrics_text *t, const char *fmt, ...) {
    if (t->cut) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->buf[t->len] = '\0'; /* drop the partial line */
        t->cut = true;
        return;
    }
    t->len += (size_t)n;
}

void tr__metrics_family(tr__metrics_text *t, const char *name, const char *type, const char *help) {
    tr__metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with '\\', '"' and newlines escaped as the text format requires. */
static void escape_label(const char *s, char *out, size_t cap) {
    size_t j = 0;
    for (; *s && j + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') {
            out[j++] = '\\';
            out[j++] = *s;
        } else if (*s == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = *s;
        }
    }
    out[j] = '\0';
}

/* One type's figures, rows of the same name merged. */
typedef struct type_sum {
    char label[2 * TR_NAME_MAX + 3];
    uint64_t spawned, stopped, in, out, depth;
} type_sum;

static uint32_t sum_types(tr__metrics_node *m, type_sum *sums) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < TR__METRICS_TYPES_MAX; i++) {
        tr__metrics_type *r = &m->types[i];
        if (i > 0 && !atomic_load_explicit(&r->beh, memory_order_acquire)) {
            continue;
        }
        char label[sizeof sums[0].label];
        escape_label(r->name, label, sizeof label);
        uint32_t k = 0;
        while (k < n && strcmp(sums[k].label, label) != 0) {
            k++;
        }
        if (k == n) {
            memset(&sums[n], 0, sizeof sums[n]);
            strcpy(sums[n].label, label);
            n++;
        }
        sums[k].spawned += atomic_load_explicit(&r->spawned, memory_order_relaxed);
        sums[k].stopped += atomic_load_explicit(&r->stopped, memory_order_relaxed);
        sums[k].in += tr__metrics_messages_in(r);
        sums[k].out += tr__metrics_messages_out(r);
    }
    return n;
}

/* Adds each live actor's queued messages to its type's depth. A slot's behaviour is read
 * between two loads of its id (acquire): when both give the same live id, the behaviour
 * read is that actor's ([init], written before the id was published). */
static void sum_depths(tr_node *node, type_sum *sums, uint32_t n) {
    for (uint32_t p = 0; p < TR__PAGES_MAX; p++) {
        tr_actor *page = atomic_load_explicit(&node->pages[p], memory_order_acquire);
        if (!page) {
            break;
        }
        for (uint32_t i = 0; i < TR__PAGE_SIZE; i++) {
            tr_actor *a = &page[i];
            uint64_t id = atomic_load_explicit(&a->id, memory_order_acquire);
            if (!id) {
                continue;
            }
            const tr_behaviour *b = a->beh;
            uint32_t q = atomic_load_explicit(&a->mb.queued, memory_order_relaxed);
            if (atomic_load_explicit(&a->id, memory_order_acquire) != id || !q) {
                continue;
            }
            tr__metrics_type *r = tr__metrics_type_of(&node->metrics, b);
            char label[sizeof sums[0].label];
            escape_label(r->name, label, sizeof label);
            for (uint32_t k = 0; k < n; k++) {
                if (strcmp(sums[k].label, label) == 0) {
                    sums[k].depth += q;
                    break;
                }
            }
        }
    }
}

#define TYPE_FAMILY(t, sums, n, name, type, help, field)                            \
    do {                                                                            \
        tr__metrics_family(t, name, type, help);                                    \
        for (uint32_t k_ = 0; k_ < (n); k_++) {                                     \
            tr__metrics_printf(t, "%s{type=\"%s\"} %llu\n", name, (sums)[k_].label, \
                               (unsigned long long)(sums)[k_].field);               \
        }                                                                           \
    } while (0)

static void render_types(tr_node *node, tr__metrics_text *t) {
    type_sum sums[TR__METRICS_TYPES_MAX];
    uint32_t n = sum_types(&node->metrics, sums);
    sum_depths(node, sums, n);
    for (uint32_t k = 0; k < n; k++) {
        sums[k].spawned -= sums[k].spawned >= sums[k].stopped ? sums[k].stopped : sums[k].spawned;
    }
    TYPE_FAMILY(t, sums, n, "troupe_actor_live", "gauge",
                "Actors of this type alive now (spawned minus stopped).", spawned);
    for (uint32_t k = 0; k < n; k++) {
        sums[k].spawned += sums[k].stopped;
    }
    TYPE_FAMILY(t, sums, n, "troupe_actor_spawned_total", "counter", "Actors of this type spawned.",
                spawned);
    TYPE_FAMILY(t, sums, n, "troupe_actor_messages_in_total", "counter",
                "Messages handled by actors of this type (as troupe_messages_delivered_total).",
                in);
    TYPE_FAMILY(t, sums, n, "troupe_actor_messages_out_total", "counter",
                "Messages sent by actors of this type.", out);
    TYPE_FAMILY(t, sums, n, "troupe_actor_mailbox_depth", "gauge",
                "Messages queued for actors of this type, read at the scrape.", depth);
}

static void render_totals(tr_node *node, tr__metrics_text *t) {
    tr_stats st;
    tr_node_stats_get(node, &st);
    tr__metrics_family(t, "troupe_dead_letters_total", "counter",
                       "Messages that reached no actor, by reason.");
    for (int r = 0; r < TR__DEAD_REASONS; r++) {
        tr__metrics_printf(
            t, "troupe_dead_letters_total{reason=\"%s\"} %llu\n", tr__metrics_dead_reason_name(r),
            (unsigned long long)atomic_load_explicit(&node->metrics.dead[r], memory_order_relaxed));
    }
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } rows[] = {
        {"troupe_messages_delivered_total", "counter", "Messages handled by the node's actors.",
         offsetof(tr_stats, messages_delivered)},
        {"troupe_mailbox_rejects_total", "counter", "Sends refused by a full bounded mailbox.",
         offsetof(tr_stats, mailbox_rejects)},
        {"troupe_mutes_total", "counter", "Times a sender was muted for flooding a mailbox.",
         offsetof(tr_stats, mutes)},
        {"troupe_restarts_total", "counter", "Children restarted by supervisors.",
         offsetof(tr_stats, restarts)},
        {"troupe_store_commits_total", "counter", "Store transactions committed.",
         offsetof(tr_stats, store_commits)},
        {"troupe_store_writes_total", "counter", "Store writes committed.",
         offsetof(tr_stats, store_writes)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&st + rows[i].off, sizeof v);
        tr__metrics_family(t, rows[i].name, rows[i].type, rows[i].help);
        tr__metrics_printf(t, "%s %llu\n", rows[i].name, (unsigned long long)v);
    }
}

/* Commit latency (the commits the real engine's writer timed) and the map's size and use. */
static void render_store_latency(const tr_store_stats *s, tr__metrics_text *t) {
    const char *name = "troupe_store_commit_seconds";
    tr__metrics_family(t, name, "histogram",
                       "Time a store commit took (LMDB transaction and sync), in seconds.");
    uint64_t below = 0;
    for (uint32_t i = 0; i < TR__STORE_LATENCY_BUCKETS; i++) {
        below += s->commits_by_latency[i];
        tr__metrics_printf(t, "%s_bucket{le=\"%g\"} %llu\n", name,
                           (double)tr__store_latency_bounds_us[i] / 1e6, (unsigned long long)below);
    }
    below += s->commits_by_latency[TR__STORE_LATENCY_BUCKETS];
    TR_ASSERT(below == s->timed_commits);
    tr__metrics_printf(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name,
                       (unsigned long long)below, name, (double)s->timed_commit_ns / 1e9, name,
                       (unsigned long long)s->timed_commits);
    tr__metrics_family(t, "troupe_store_map_bytes", "gauge", "The store's LMDB map size.");
    tr__metrics_printf(t, "troupe_store_map_bytes %llu\n", (unsigned long long)s->map_bytes);
    tr__metrics_family(t, "troupe_store_used_bytes", "gauge",
                       "Bytes of the store's LMDB pages in use (up to its last page).");
    tr__metrics_printf(t, "troupe_store_used_bytes %llu\n", (unsigned long long)s->used_bytes);
}

/* Writes per commit as a histogram (cumulative buckets, as the format wants). */
static void render_store(tr_node *node, tr__metrics_text *t) {
    if (!node->store) {
        return;
    }
    tr_store_stats s;
    tr__store_stats_get(node->store, &s);
    const char *name = "troupe_store_commit_writes";
    tr__metrics_family(t, name, "histogram", "Store writes per committed transaction.");
    uint64_t below = 0;
    for (uint32_t i = 0; i + 1 < TR__STORE_BATCH_BUCKETS; i++) {
        below += s.commits_by_writes[i];
        tr__metrics_printf(t, "%s_bucket{le=\"%llu\"} %llu\n", name,
                           (unsigned long long)(UINT64_C(1) << i), (unsigned long long)below);
    }
    below += s.commits_by_writes[TR__STORE_BATCH_BUCKETS - 1];
    TR_ASSERT(below == s.commits);
    tr__metrics_printf(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu\n%s_count %llu\n", name,
                       (unsigned long long)below, name, (unsigned long long)s.writes, name,
                       (unsigned long long)s.commits);
    render_store_latency(&s, t);
}

void tr__metrics_render_node(tr_node *node, tr__metrics_text *t) {
    TR_ASSERT(node && t && t->cap > 0);
    render_types(node, t);
    render_totals(node, t);
    render_store(node, t);
    TR_ASSERT(t->len < t->cap);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(a, b);
}

uint32_t tr__metrics_names(tr_node *node, char (*out)[TR_NAME_MAX + 1], uint32_t cap,
                           uint32_t *total) {
    uint32_t n = 0, all = 0;
    pthread_mutex_lock(&node->reg_lock);
    for (uint32_t b = 0; b < node->reg_nbuckets; b++) {
        for (const tr_name_entry *e = node->reg_buckets[b]; e; e = e->next) {
            if (!tr__actor_alive(node, e->addr.actor)) {
                continue; /* bound to a dead actor: not registered any more (registry.h) */
            }
            all++;
            if (n < cap) {
                memcpy(out[n++], e->name, TR_NAME_MAX + 1);
            }
        }
    }
    pthread_mutex_unlock(&node->reg_lock);
    qsort(out, n, sizeof out[0], name_cmp);
    if (total) {
        *total = all;
    }
    return n;
}
