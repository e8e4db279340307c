/* A soak of a real 3-node cluster: `troupe node` processes n1..n3 host the CP register
 * ("cp", ABD majority quorums, state in LMDB); this test process joins as member n9 and runs
 * client actors that write back to back (full request rate, one op in flight per client),
 * while every SOAK_KILL seconds one node in turn is killed with SIGKILL and restarted on its
 * data directory. Every few seconds it samples each node's resident memory (VmRSS) and the
 * size of its LMDB data file. At the end it checks:
 *  - every acknowledged write is still there: each client owns its keys and writes them in
 *    sequence, so a key's final value must be its last acknowledged write or one of its
 *    writes whose outcome was unknown (an info op may take effect at any later time); an
 *    older acknowledged value, or no value after an acknowledged write, is a lost write;
 *  - every request was answered or failed within its deadline (plus a scheduling slack);
 *  - resident memory and the data files stayed bounded after warm-up: every node's RSS under
 *    a fixed ceiling and each data file at the end at most twice its size at warm-up plus
 *    4 MiB (the key set is fixed, so LMDB reuses its free pages).
 * It prints the RSS and data-file curve (start, warm, end, and the least-squares slope of the
 * three nodes' summed RSS after warm-up) and the counts.
 *
 * The length comes from TROUPE_SOAK_SECONDS (default 100, what CI runs) and the kill period
 * from TROUPE_SOAK_KILL_SECONDS (default 30): TROUPE_SOAK_SECONDS=1800 runs the long soak.
 * The second test is the check's planted bug: a short soak whose read-back of one key is
 * replaced by "no value" after an acknowledged write; the check must report that key lost. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "actors/registers.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* proc.h: helpers we do not call */
#include "proc.h"
#pragma GCC diagnostic pop
#include "reg_clients.h"
#include "troupe.h"

#define REPLICAS REG_REPLICAS
#define MESH_MS 20000
#define CLIENTS 12
#define KEYS_PER_CLIENT 8
#define KEYS (CLIENTS * KEYS_PER_CLIENT)
#define OP_TIMEOUT_MS 1000
#define DEADLINE_SLACK_MS 2000 /* timers on a loaded machine fire late; a hang is far beyond */
#define SAMPLE_MS 5000
#define SAMPLES_MAX 4096
#define RSS_CEILING_KIB (256 * 1024)
#define TICK (TR_MSG_USER + 1)
#define CLIENT_PORT 5
#define INFO_MAX 4096 /* unknown-outcome writes remembered per run (a hard cap, checked) */

TestSuite(soak, .init = proc_setup, .fini = proc_teardown, .timeout = 7200);

/* ---- what the clients record (each key is written by one client only) ------------------ */

typedef struct key_log {
    int64_t last_ok; /* the last acknowledged write's value (0: none yet; values start at 1) */
    int64_t final;   /* read back at the end (0: no value) */
    atomic_bool read_back;
} key_log;

static key_log keys[KEYS];
static pthread_mutex_t info_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint32_t key;
    int64_t value;
} infos[INFO_MAX];
static size_t info_count;
static atomic_bool info_overflow;
static atomic_bool stopping;
static atomic_int clients_done;
static atomic_llong ops_ok, ops_fail, ops_info, over_deadline, max_latency_ms;

static uint64_t mono_ms(void) {
    return proc_now_ms();
}

static void note_info(uint32_t key, int64_t value) {
    pthread_mutex_lock(&info_mu);
    if (info_count < INFO_MAX) {
        infos[info_count].key = key;
        infos[info_count].value = value;
        info_count++;
    } else {
        atomic_store(&info_overflow, true);
    }
    pthread_mutex_unlock(&info_mu);
}

typedef struct client_state {
    uint32_t index;
    char target[32];
    uint64_t corr;
    uint64_t seq;
    uint32_t key;
    int64_t value;
    uint64_t invoked_ms;
    bool pending;
} client_state;

static int client_next(tr_ctx *ctx, client_state *s) {
    if (atomic_load(&stopping)) {
        atomic_fetch_add(&clients_done, 1);
        return TR_STOP;
    }
    s->seq++;
    s->key = s->index * KEYS_PER_CLIENT + (uint32_t)(s->seq % KEYS_PER_CLIENT);
    s->value = (int64_t)(s->index + 1) * 100000000 + (int64_t)s->seq; /* unique, never 0 */
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    tr__registers_request_encode(body, sizeof body, s->key, true, s->value, &len);
    s->invoked_ms = mono_ms();
    if (tr_request_name(ctx, s->target, TR_REG_WRITE, body, len, OP_TIMEOUT_MS, &s->corr) != 0) {
        atomic_fetch_add(&ops_fail, 1); /* never sent: certainly not applied */
        uint64_t timer;
        return tr_timer_start(ctx, 20, 0, TICK, &timer) ? TR_STOP : TR_CONTINUE;
    }
    s->pending = true;
    return TR_CONTINUE;
}

static void client_complete(client_state *s, const tr_msg *msg) {
    uint64_t took = mono_ms() - s->invoked_ms;
    long long prev = atomic_load(&max_latency_ms);
    while ((long long)took > prev && !atomic_compare_exchange_weak(&max_latency_ms, &prev, took)) {
    }
    if (took > OP_TIMEOUT_MS + DEADLINE_SLACK_MS) {
        atomic_fetch_add(&over_deadline, 1);
    }
    tr_reg_reply rep;
    if (msg->type == TR_MSG_TIMEOUT ||
        tr__registers_reply_decode(msg->body, msg->body_len, &rep) != 0 || rep.indeterminate) {
        atomic_fetch_add(&ops_info, 1);
        note_info(s->key, s->value);
    } else if (rep.ok) {
        atomic_fetch_add(&ops_ok, 1);
        keys[s->key].last_ok = s->value; /* only this client writes the key */
    } else {
        atomic_fetch_add(&ops_fail, 1);
    }
    s->pending = false;
}

static int client_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    client_state *s = state;
    if (len != sizeof(uint32_t)) {
        return TR_EINVAL;
    }
    memcpy(&s->index, arg, sizeof s->index);
    snprintf(s->target, sizeof s->target, "cp@n%u", s->index % REPLICAS + 1);
    return client_next(ctx, s) == TR_STOP ? TR_ECLOSED : 0;
}

static int client_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    client_state *s = state;
    if (msg->type == TICK && !s->pending) {
        return client_next(ctx, s);
    }
    bool answer = msg->type == TR_MSG_TIMEOUT || msg->type == TR_REG_REPLY;
    if (!s->pending || !answer || msg->corr != s->corr) {
        return TR_CONTINUE;
    }
    client_complete(s, msg);
    return client_next(ctx, s);
}

static const tr_behaviour client_b = {.name = "soak-client",
                                      .state_size = sizeof(client_state),
                                      .init = client_init,
                                      .receive = client_receive};

/* ---- the final read-back: one actor reads every key through n1, retrying until ok ------- */

typedef struct reader_state {
    uint32_t key;
    uint64_t corr;
} reader_state;

static int reader_send(tr_ctx *ctx, reader_state *s) {
    while (s->key < KEYS && atomic_load(&keys[s->key].read_back)) {
        s->key++;
    }
    if (s->key == KEYS) {
        return TR_STOP;
    }
    uint8_t body[TR_REG_BODY_MAX];
    size_t len;
    tr__registers_request_encode(body, sizeof body, s->key, false, 0, &len);
    if (tr_request_name(ctx, "cp@n1", TR_REG_READ, body, len, OP_TIMEOUT_MS, &s->corr) != 0) {
        uint64_t timer;
        return tr_timer_start(ctx, 50, 0, TICK, &timer) ? TR_STOP : TR_CONTINUE;
    }
    return TR_CONTINUE;
}

static int reader_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    (void)arg;
    (void)len;
    return reader_send(ctx, state) == TR_STOP ? TR_ECLOSED : 0;
}

static int reader_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    reader_state *s = state;
    if (msg->type == TICK) {
        return reader_send(ctx, s);
    }
    if (msg->corr != s->corr) {
        return TR_CONTINUE;
    }
    tr_reg_reply rep;
    if (msg->type == TR_REG_REPLY &&
        tr__registers_reply_decode(msg->body, msg->body_len, &rep) == 0 && rep.ok) {
        keys[s->key].final = rep.has_value ? rep.value : 0;
        atomic_store(&keys[s->key].read_back, true);
    }
    return reader_send(ctx, s);
}

static const tr_behaviour reader_b = {.name = "soak-reader",
                                      .state_size = sizeof(reader_state),
                                      .init = reader_init,
                                      .receive = reader_receive};

/* ---- the cluster (reg_clients.h's replicas and n9) ------------------------------------ */

static char data_dir[REPLICAS][512];
static int slots[REPLICAS];

/* ---- the samples ----------------------------------------------------------------------- */

typedef struct sample {
    uint64_t t_ms;
    long rss_kib[REPLICAS];
    long mdb_kib[REPLICAS];
    long long ok;
} sample;

static sample samples[SAMPLES_MAX];
static size_t sample_count;

static long rss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
                break;
            }
        }
        fclose(f);
    }
    return kib;
}

static long file_kib(const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    return stat(path, &st) == 0 ? (long)(st.st_blocks / 2) : -1; /* allocated, not sparse size */
}

static void take_sample(uint64_t t0) {
    if (sample_count == SAMPLES_MAX) {
        return;
    }
    sample *s = &samples[sample_count++];
    s->t_ms = mono_ms() - t0;
    for (int i = 0; i < REPLICAS; i++) {
        s->rss_kib[i] = rss_kib(procs[slots[i]]);
        s->mdb_kib[i] = file_kib(data_dir[i]);
    }
    s->ok = atomic_load(&ops_ok);
    fprintf(stderr, "soak t=%llus rss_kib=%ld,%ld,%ld mdb_kib=%ld,%ld,%ld ok=%lld\n",
            (unsigned long long)s->t_ms / 1000, s->rss_kib[0], s->rss_kib[1], s->rss_kib[2],
            s->mdb_kib[0], s->mdb_kib[1], s->mdb_kib[2], s->ok);
}

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : fallback;
}

/* Least-squares slope (KiB per minute) of the summed RSS over samples[from..]. */
static double rss_slope(size_t from) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t k = from; k < sample_count; k++) {
        double x = (double)samples[k].t_ms / 60000.0;
        double y = (double)(samples[k].rss_kib[0] + samples[k].rss_kib[1] + samples[k].rss_kib[2]);
        n++;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double d = n * sxx - sx * sx;
    return n >= 2 && d != 0 ? (n * sxy - sx * sy) / d : 0;
}

/* ---- the test -------------------------------------------------------------------------- */

static bool lost(uint32_t k) {
    const key_log *l = &keys[k];
    if (l->last_ok == 0 || l->final == l->last_ok) {
        return false;
    }
    for (size_t i = 0; i < info_count; i++) {
        if (infos[i].key == k && infos[i].value == l->final) {
            return false; /* an unknown-outcome write that took effect late */
        }
    }
    return true;
}

typedef struct soak_result {
    size_t lost_keys;
    long rss_max;
    const sample *warm, *end;
} soak_result;

static soak_result soak(long seconds, long kill_every, bool plant_lost) {
    cr_assert(seconds >= 10 && kill_every >= 5, "bad TROUPE_SOAK_SECONDS/KILL_SECONDS");
    for (int i = 0; i < REPLICAS; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "data-%s", reg_replica_names[i]);
        proc_path(data_dir[i], sizeof data_dir[i], tag);
        slots[i] = reg_replica_start(i, data_dir[i]);
    }
    reg_client_node cn;
    reg_client_node_join(&cn, CLIENT_PORT, MESH_MS);
    tr_runtime *rt = cn.rt;
    for (uint32_t c = 0; c < CLIENTS; c++) {
        tr_addr addr;
        cr_assert_eq(tr_node_spawn(tr_runtime_node(rt), &client_b, NULL, &c, sizeof c, &addr), 0);
    }

    uint64_t t0 = mono_ms(), next_sample = t0, next_kill = t0 + (uint64_t)kill_every * 1000;
    uint64_t end = t0 + (uint64_t)seconds * 1000;
    int kills = 0;
    while (mono_ms() < end) {
        if (mono_ms() >= next_sample) {
            take_sample(t0);
            next_sample += SAMPLE_MS;
        }
        if (mono_ms() >= next_kill) {
            int v = kills++ % REPLICAS;
            int links[REPLICAS + 1];
            reg_link_counts(v, links);
            proc_signal(slots[v], SIGKILL);
            proc_wait(slots[v], 5000);
            slots[v] = reg_replica_start(v, data_dir[v]);
            reg_wait_mesh(v, links, MESH_MS);
            next_kill += (uint64_t)kill_every * 1000;
        }
        usleep(100000);
    }
    take_sample(t0);
    atomic_store(&stopping, true);
    uint64_t until = mono_ms() + OP_TIMEOUT_MS + 10000;
    while (atomic_load(&clients_done) < CLIENTS && mono_ms() < until) {
        usleep(10000);
    }
    cr_assert_eq(atomic_load(&clients_done), CLIENTS, "clients still busy");

    tr_addr raddr;
    cr_assert_eq(tr_node_spawn(tr_runtime_node(rt), &reader_b, NULL, NULL, 0, &raddr), 0);
    until = mono_ms() + 30000;
    size_t read_back = 0;
    while (mono_ms() < until) {
        read_back = 0;
        for (uint32_t key = 0; key < KEYS; key++) {
            read_back += atomic_load(&keys[key].read_back);
        }
        if (read_back == KEYS) {
            break;
        }
        usleep(20000);
    }
    cr_assert_eq(read_back, KEYS, "only %zu of %d keys read back", read_back, KEYS);
    if (plant_lost) {
        for (uint32_t key = 0; key < KEYS; key++) {
            if (keys[key].last_ok != 0) {
                keys[key].final = 0; /* no value after an acknowledged write */
                break;
            }
        }
    }
    reg_client_node_stop(&cn);

    size_t lost_keys = 0;
    for (uint32_t key = 0; key < KEYS; key++) {
        if (lost(key)) {
            fprintf(stderr, "soak: key %u lost: last acknowledged %lld, read %lld\n", key,
                    (long long)keys[key].last_ok, (long long)keys[key].final);
            lost_keys++;
        }
    }
    size_t warm = sample_count / 3;
    const sample *s0 = &samples[0], *sw = &samples[warm], *se = &samples[sample_count - 1];
    long rss_max = 0;
    for (size_t i = 0; i < sample_count; i++) {
        for (int n = 0; n < REPLICAS; n++) {
            rss_max = samples[i].rss_kib[n] > rss_max ? samples[i].rss_kib[n] : rss_max;
        }
    }
    double secs = (double)(se->t_ms ? se->t_ms : 1) / 1000.0;
    fprintf(stderr,
            "soak: %lds, %d kills; ok %lld (%.0f/s), fail %lld, info %lld; max latency %lld ms, "
            "%lld over deadline+slack; lost keys %zu of %d\n"
            "soak: rss_kib start %ld,%ld,%ld warm(t=%llus) %ld,%ld,%ld end %ld,%ld,%ld max %ld; "
            "summed-rss slope after warm-up %.0f KiB/min\n"
            "soak: data.mdb kib start %ld,%ld,%ld warm %ld,%ld,%ld end %ld,%ld,%ld\n",
            seconds, kills, atomic_load(&ops_ok), (double)atomic_load(&ops_ok) / secs,
            atomic_load(&ops_fail), atomic_load(&ops_info), atomic_load(&max_latency_ms),
            atomic_load(&over_deadline), lost_keys, KEYS, s0->rss_kib[0], s0->rss_kib[1],
            s0->rss_kib[2], (unsigned long long)sw->t_ms / 1000, sw->rss_kib[0], sw->rss_kib[1],
            sw->rss_kib[2], se->rss_kib[0], se->rss_kib[1], se->rss_kib[2], rss_max,
            rss_slope(warm), s0->mdb_kib[0], s0->mdb_kib[1], s0->mdb_kib[2], sw->mdb_kib[0],
            sw->mdb_kib[1], sw->mdb_kib[2], se->mdb_kib[0], se->mdb_kib[1], se->mdb_kib[2]);
    cr_assert(!atomic_load(&info_overflow), "more than %d unknown-outcome writes", INFO_MAX);
    cr_assert_gt(atomic_load(&ops_ok), 100, "the cluster hardly served");
    return (soak_result){lost_keys, rss_max, sw, se};
}

Test(soak, acknowledged_writes_survive_kills_and_memory_stays_bounded) {
    soak_result r =
        soak(env_long("TROUPE_SOAK_SECONDS", 100), env_long("TROUPE_SOAK_KILL_SECONDS", 30), false);
    cr_assert_eq(r.lost_keys, 0, "%zu acknowledged writes lost", r.lost_keys);
    cr_assert_eq(atomic_load(&over_deadline), 0, "requests answered past their deadline");
    cr_assert_lt(r.rss_max, RSS_CEILING_KIB, "a node's RSS reached %ld KiB", r.rss_max);
    for (int n = 0; n < REPLICAS; n++) {
        cr_assert_leq(r.end->mdb_kib[n], 2 * r.warm->mdb_kib[n] + 4096,
                      "%s's data file grew: %ld -> %ld", reg_replica_names[n], r.warm->mdb_kib[n],
                      r.end->mdb_kib[n]);
    }
}

Test(soak, the_check_reports_a_planted_lost_write) {
    soak_result r = soak(12, 6, true);
    cr_assert_eq(r.lost_keys, 1, "the planted lost write was not reported (%zu)", r.lost_keys);
}
