/* Host names in cluster addresses: the syntax check, transports that dial each other by
 * "localhost:PORT" (resolved through /etc/hosts: loopback only, no outside network), a seed
 * that does not resolve (the reserved ".invalid" TLD, RFC 6761), a resolver that is slow,
 * and closing or draining while a resolution is in flight.
 *
 * A slow resolver is made here: this binary defines getaddrinfo, which libuv's call resolves
 * to (the executable comes first in the dynamic symbol lookup), and for the name
 * "slow.test" it waits until the test releases it, then answers for "localhost". Other names
 * go to the C library's getaddrinfo. Each test checks the interposer was live. */

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <uv.h>

#include "cluster/transport.h"
#include "rawpeer.h"

#define SECRET "test-secret-0123456789"
#define NODES 3

/* ---- the slow resolver ----------------------------------------------------------------- */

static _Atomic int g_slow_inside; /* calls for "slow.test" that entered */
static _Atomic bool g_slow_release;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
            RTLD_NEXT, "getaddrinfo");
    size_t nl = node ? strlen(node) : 0;
    if (nl > 8 && !strcmp(node + nl - 8, ".invalid")) {
        return EAI_NONAME; /* RFC 6761's answer, without asking a name server */
    }
    if (node && !strcmp(node, "slow.test")) {
        atomic_fetch_add(&g_slow_inside, 1);
        uint64_t until = raw_now_ms() + 10000; /* bounded even if a test forgets */
        while (!atomic_load(&g_slow_release) && raw_now_ms() < until) {
            usleep(1000);
        }
        node = "localhost";
    }
    if (node && !strcmp(node, "two.test")) {
        /* two addresses: first one nobody listens on, then the node's */
        struct addrinfo *a = NULL, *b = NULL;
        int rc = real("127.0.0.2", service, hints, &a);
        if (rc == 0 && (rc = real("127.0.0.1", service, hints, &b)) == 0) {
            struct addrinfo *last = a;
            while (last->ai_next) {
                last = last->ai_next;
            }
            last->ai_next = b;
            *res = a;
            return 0;
        }
        freeaddrinfo(a);
        return rc;
    }
    return real(node, service, hints, res);
}

/* ---- stderr capture: the transports' log lines ------------------------------------------ */

static int g_log_pipe[2] = {-1, -1};
static int g_stderr_copy = -1;
static pthread_t g_log_th;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_log[1 << 20];
static size_t g_log_len;

static void *log_reader(void *arg) {
    (void)arg;
    char buf[4096];
    ssize_t n;
    while ((n = read(g_log_pipe[0], buf, sizeof buf)) > 0) {
        ssize_t w = write(g_stderr_copy, buf, (size_t)n); /* still shown */
        (void)w;
        pthread_mutex_lock(&g_log_mu);
        size_t room = sizeof g_log - 1 - g_log_len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(g_log + g_log_len, buf, take);
        g_log_len += take;
        g_log[g_log_len] = 0;
        pthread_mutex_unlock(&g_log_mu);
    }
    return NULL;
}

static void log_capture_start(void) {
    cr_assert_eq(pipe(g_log_pipe), 0);
    g_stderr_copy = dup(2);
    dup2(g_log_pipe[1], 2);
    close(g_log_pipe[1]);
    pthread_create(&g_log_th, NULL, log_reader, NULL);
}

static void log_capture_stop(void) {
    dup2(g_stderr_copy, 2); /* the last write end: the reader sees EOF */
    pthread_join(g_log_th, NULL);
    close(g_log_pipe[0]);
    close(g_stderr_copy);
}

/* How many captured lines contain all of a and b. */
static int log_count(const char *a, const char *b) {
    int n = 0;
    pthread_mutex_lock(&g_log_mu);
    for (const char *line = g_log; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char one[1024];
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one - 1 ? len : sizeof one - 1), line);
        n += strstr(one, a) && strstr(one, b);
        line += len + (end ? 1 : 0);
    }
    pthread_mutex_unlock(&g_log_mu);
    return n;
}

/* Waits up to 2 s (the reader thread may be behind) until log_count(a, b) >= n. */
static bool logged(const char *a, const char *b, int n) {
    uint64_t until = raw_now_ms() + 2000;
    while (log_count(a, b) < n && raw_now_ms() < until) {
        usleep(5000);
    }
    return log_count(a, b) >= n;
}

/* ---- transports on a loop of their own ---------------------------------------------------- */

typedef struct world {
    /* loop_thread.h's */
    uv_loop_t loop;
    pthread_t th;
    uv_async_t cmd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*fn)(struct world *, int);
    int arg;
    bool done;
    tr_transport *t[NODES];
    tr_transport_config cfg[NODES];
    char listen[NODES][64], seeds[NODES][128];
    int port[NODES];
    int ups[NODES][NODES + 1], downs[NODES][NODES + 1]; /* [observer][id] */
    int closed;                                         /* close/drain completions */
    int create_rc;
} world;

static world W;

#include "loop_thread.h"

static int on_message(void *ud, uint32_t from, const uint8_t *p, size_t len) {
    (void)ud;
    (void)from;
    (void)p;
    (void)len;
    return 0;
}

static void on_node(void *ud, uint32_t id, const char *name, bool up) {
    (void)name;
    int i = (int)(intptr_t)ud;
    pthread_mutex_lock(&W.mu);
    if (id <= NODES) {
        (up ? W.ups : W.downs)[i][id]++;
    }
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
}

static void on_closed(void *arg) {
    (void)arg;
    pthread_mutex_lock(&W.mu);
    W.closed++;
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
}

/* Node i (name n<i+1>, id i+1) listening on `listen` and seeded with `seeds`. */
static void config(int i, const char *listen, const char *seeds) {
    static const char *names[NODES] = {"n1", "n2", "n3"};
    snprintf(W.listen[i], sizeof W.listen[i], "%s", listen ? listen : "");
    snprintf(W.seeds[i], sizeof W.seeds[i], "%s", seeds ? seeds : "");
    tr_transport_config *c = &W.cfg[i];
    memset(c, 0, sizeof *c);
    c->cluster = "test";
    c->node_name = names[i];
    c->node_id = (uint32_t)i + 1;
    c->listen = listen ? W.listen[i] : NULL;
    c->seeds = seeds ? W.seeds[i] : NULL;
    c->secret = (const uint8_t *)SECRET;
    c->secret_len = strlen(SECRET);
    c->handshake_timeout_ms = 1000;
    c->heartbeat_ms = 100;
    c->down_ms = 600;
    c->backoff_min_ms = 50;
    c->backoff_max_ms = 200;
    c->on_message = on_message;
    c->on_node = on_node;
    c->ud = (void *)(intptr_t)i;
}

static void do_start(world *w, int i) {
    w->create_rc = tr__transport_create(&w->loop, &w->cfg[i], &w->t[i]);
    w->port[i] = w->create_rc ? 0 : tr__transport_port(w->t[i]);
}

static int start(int i, const char *listen, const char *seeds) {
    config(i, listen, seeds);
    on_loop(&W, do_start, i);
    return W.create_rc;
}

static void do_close(world *w, int i) {
    tr__transport_close(w->t[i], on_closed, NULL);
    w->t[i] = NULL;
}

static void do_drain(world *w, int i) {
    tr__transport_drain(w->t[i], 300, on_closed, NULL);
    w->t[i] = NULL;
}

static void stop_all(world *w, int unused) {
    (void)unused;
    for (int i = 0; i < NODES; i++) {
        if (w->t[i]) {
            tr__transport_close(w->t[i], NULL, NULL);
            w->t[i] = NULL;
        }
    }
    uv_close((uv_handle_t *)&w->cmd, NULL);
}

static void world_start(void) {
    memset(&W, 0, sizeof W);
    atomic_store(&g_slow_inside, 0);
    atomic_store(&g_slow_release, false);
    loop_thread_init(&W);
    log_capture_start();
    pthread_create(&W.th, NULL, loop_main, &W);
}

static void world_stop(void) {
    atomic_store(&g_slow_release, true);
    on_loop(&W, stop_all, 0);
    pthread_join(W.th, NULL);
    int rc = uv_loop_close(&W.loop);
    log_capture_stop();
    cr_assert_eq(rc, 0, "a handle or request was leaked");
}

/* arg = observer * 10 + id */
static bool is_up(world *w, long arg) {
    return w->ups[arg / 10][arg % 10] > 0;
}
static bool closed_n(world *w, long n) {
    return w->closed >= n;
}
static bool slow_inside(world *w, long n) {
    (void)w;
    return atomic_load(&g_slow_inside) >= n;
}
static bool failures_logged(world *w, long n) {
    (void)w;
    return log_count("event=resolve_failed", "addr=nosuchhost.invalid:7401") >= n;
}

static void sleep_ms(int ms) {
    usleep((useconds_t)ms * 1000);
}

/* ---- syntax ------------------------------------------------------------------------------- */

Test(hostnames, address_syntax_is_checked_without_resolving) {
    static const char *good[] = {
        "localhost:7401",
        "db-2.internal:7401",
        "db-2.internal.:1",
        "my_service:80",
        "127.0.0.1:65535",
        "[::1]:7401",
        "::1:7401",
        "a:1",
        "x1.y2.z3:9",
        "nosuchhost.invalid:7401", /* syntax only: it need not resolve */
        "a234567890123456789012345678901234567890123456789012345678:7401", /* 63 bytes */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *why = "unset";
        cr_assert_eq(tr__address_check(good[i], false, &why), 0, "%s refused: %s", good[i], why);
        cr_assert_null(why);
    }
    static const char *bad[] = {
        "",
        "localhost",
        "localhost:",
        ":7401",
        "localhost:0",
        "localhost:65536",
        "localhost:+80",
        "localhost: 80",
        "localhost:80x",
        "localhost:007401",
        "host name:1",
        "-bad:1",
        "bad-:1",
        "a..b:1",
        ".a:1",
        "a/b:1",
        "10.0.0.256:1",
        "10.1:1",
        "1234:1",
        "[::1:7401",
        "[zz]:1",
        "[]:1",
        "[127.0.0.1]:1",
        "fe80::1",
        "h\xc3\xa9llo:1",
        "a2345678901234567890123456789012345678901234567890123456789:7401", /* 64 bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        cr_assert_eq(tr__address_check(bad[i], false, &why), TR_EINVAL, "'%s' accepted", bad[i]);
        cr_assert(why && why[0], "'%s': no reason", bad[i]);
    }
    /* port 0 only where asked for (a listen address) */
    cr_assert_eq(tr__address_check("localhost:0", true, NULL), 0);
    cr_assert_eq(tr__address_check("[::]:0", true, NULL), 0);
    cr_assert_eq(atomic_load(&g_slow_inside), 0);
}

Test(hostnames, bad_syntax_is_refused_at_creation_with_the_reason, .timeout = 20) {
    world_start();
    cr_assert_eq(start(0, "127.0.0.1:0", "localhost:7401,db..x:7401"), TR_EINVAL);
    cr_assert_eq(start(0, "127.0.0.1:0", "localhost:70000"), TR_EINVAL);
    cr_assert_eq(start(0, "localhost", NULL), TR_EINVAL);
    config(0, "127.0.0.1:0", NULL);
    W.cfg[0].advertise = "db-2.internal:0";
    on_loop(&W, do_start, 0);
    cr_assert_eq(W.create_rc, TR_EINVAL, "advertised port 0");
    cr_assert_eq(start(0, "0.0.0.0:0", NULL), TR_EINVAL, "a wildcard with nothing to advertise");
    cr_assert(logged("what=seeds", "reason=\"empty label in host name\"", 1));
    cr_assert(logged("what=seeds", "port must be a number in 1..65535", 1));
    cr_assert(logged("event=listen_failed", "missing ':port'", 1));
    cr_assert(logged("what=advertise", "port must be", 1));
    cr_assert(logged("event=listen_failed", "wildcard", 1));
    /* A name that is well formed but unknown is not a syntax error: it is dialled (and
     * retried); a listen name is resolved at once, so that one fails at creation. */
    cr_assert_eq(start(0, "127.0.0.1:0", "nosuchhost.invalid:7401"), 0);
    cr_assert_eq(start(1, "nosuchhost.invalid:0", NULL), TR_EINVAL);
    cr_assert(logged("event=listen_failed", "cannot resolve nosuchhost.invalid", 1));
    world_stop();
}

/* ---- linking by name ----------------------------------------------------------------------- */

Test(hostnames, three_nodes_link_through_localhost_seeds_and_gossiped_names, .timeout = 20) {
    world_start();
    cr_assert_eq(start(0, "127.0.0.1:0", NULL), 0);
    char seed[32];
    snprintf(seed, sizeof seed, "localhost:%d", W.port[0]);
    /* n2 and n3 listen on a name: they advertise it, so they learn each other's address from
     * gossip as "localhost:PORT" and dial it by name too. */
    cr_assert_eq(start(1, "localhost:0", seed), 0);
    cr_assert_eq(start(2, "localhost:0", seed), 0);
    cr_assert(wait_for(is_up, 10 + 1, 5000), "n2 never linked to n1 through %s", seed);
    cr_assert(wait_for(is_up, 20 + 1, 5000), "n3 never linked to n1 through %s", seed);
    cr_assert(wait_for(is_up, 10 + 3, 5000), "n2 never linked to n3 (gossiped name)");
    cr_assert(wait_for(is_up, 20 + 2, 5000), "n3 never linked to n2 (gossiped name)");
    tr_transport_stats st;
    tr__transport_stats_get(W.t[1], &st);
    cr_assert_geq(st.resolves, 1, "n2 resolved nothing");
    cr_assert_eq(st.resolve_failures, 0);
    cr_assert(logged("event=member_learned", "addr=localhost:", 1),
              "no member was gossiped with its name");
    uint32_t id;
    cr_assert_eq(tr__transport_node_by_name(W.t[1], "n3", &id), 0);
    uint8_t p[3] = {0x92, 0x01, 0x01};
    cr_assert_eq(tr__transport_send(W.t[1], 3, p, sizeof p), 0);
    world_stop();
}

Test(hostnames, an_unresolvable_seed_is_logged_and_retried_while_the_other_seed_links,
     .timeout = 20) {
    world_start();
    cr_assert_eq(start(0, "127.0.0.1:0", NULL), 0);
    char seeds[64];
    snprintf(seeds, sizeof seeds, "nosuchhost.invalid:7401,localhost:%d", W.port[0]);
    cr_assert_eq(start(1, "127.0.0.1:0", seeds), 0);
    cr_assert(wait_for(is_up, 10 + 1, 5000), "the resolvable seed never linked");
    cr_assert(wait_for(is_up, 0 + 2, 5000));
    /* backoff 50..200 ms: several attempts in 3 s (the resolver answers NXDOMAIN) */
    uint64_t t0 = raw_now_ms();
    while (!failures_logged(&W, 3) && raw_now_ms() - t0 < 8000) {
        sleep_ms(20);
    }
    cr_assert(failures_logged(&W, 3), "resolve_failed logged %d times, want retries",
              log_count("event=resolve_failed", "addr=nosuchhost.invalid:7401"));
    cr_assert(logged("level=warn", "event=resolve_failed addr=nosuchhost.invalid:7401", 3));
    tr_transport_stats st;
    tr__transport_stats_get(W.t[1], &st);
    cr_assert_geq(st.resolve_failures, 3);
    cr_assert_eq(log_count("event=bad_address", "nosuchhost"), 0, "not a syntax error");
    cr_assert_eq(W.downs[0][2] + W.downs[1][1], 0, "the link flapped");
    world_stop();
}

Test(hostnames, a_name_with_several_addresses_is_tried_in_order, .timeout = 20) {
    world_start();
    cr_assert_eq(start(0, "127.0.0.1:0", NULL), 0);
    char seed[32];
    snprintf(seed, sizeof seed, "two.test:%d", W.port[0]);
    config(1, "127.0.0.1:0", seed);
    W.cfg[1].log_level = 1; /* the failed connect is a debug line */
    on_loop(&W, do_start, 1);
    cr_assert_eq(W.create_rc, 0);
    cr_assert(wait_for(is_up, 10 + 1, 5000), "the second address was never tried");
    char first[64];
    snprintf(first, sizeof first, "connect to 127.0.0.2:%d failed", W.port[0]);
    cr_assert(logged(first, "trying the next address", 1), "the first address was not tried");
    tr_transport_stats st;
    tr__transport_stats_get(W.t[1], &st);
    cr_assert_eq(st.resolves, 1, "one resolution for both addresses");
    world_stop();
}

/* ---- a slow resolver ----------------------------------------------------------------------- */

Test(hostnames, a_slow_resolution_never_stalls_the_loop, .timeout = 20) {
    world_start();
    cr_assert_eq(start(0, "127.0.0.1:0", NULL), 0);
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%d", W.port[0]);
    cr_assert_eq(start(1, "127.0.0.1:0", seed), 0);
    cr_assert(wait_for(is_up, 10 + 1, 5000));
    cr_assert(wait_for(is_up, 0 + 2, 5000));
    /* n3 (on the same loop) dials a name whose resolution takes 3 x down_ms: if the loop
     * waited for it, n1 and n2 would hear no heartbeat and call each other down. */
    snprintf(seed, sizeof seed, "slow.test:%d", W.port[0]);
    cr_assert_eq(start(2, "127.0.0.1:0", seed), 0);
    cr_assert(wait_for(slow_inside, 1, 3000), "the slow resolver was never called");
    sleep_ms(1800);
    cr_assert_eq(atomic_load(&g_slow_inside), 1, "dialled again while still resolving");
    pthread_mutex_lock(&W.mu);
    int n3_up = W.ups[2][1];
    pthread_mutex_unlock(&W.mu);
    cr_assert_eq(n3_up, 0);
    atomic_store(&g_slow_release, true);
    cr_assert(wait_for(is_up, 20 + 1, 5000), "n3 never linked once its seed resolved");
    /* (a stalled loop would also have stalled the detector: it sees the silence now) */
    sleep_ms(200);
    pthread_mutex_lock(&W.mu);
    int downs = W.downs[0][2] + W.downs[1][1];
    pthread_mutex_unlock(&W.mu);
    cr_assert_eq(downs, 0, "the loop stalled during a resolution: a link went down");
    world_stop();
}

Test(hostnames, close_waits_for_a_resolution_running_in_the_pool, .timeout = 20) {
    world_start();
    cr_assert_eq(start(0, "127.0.0.1:0", "slow.test:7401"), 0);
    cr_assert(wait_for(slow_inside, 1, 3000), "the slow resolver was never called");
    on_loop(&W, do_close, 0);
    /* getaddrinfo is running: uv_cancel cannot stop it, so the close waits */
    cr_assert_not(wait_for(closed_n, 1, 300), "closed with its resolution still running");
    atomic_store(&g_slow_release, true);
    cr_assert(wait_for(closed_n, 1, 3000), "close never completed after the resolution");
    world_stop();
}

Test(hostnames, drain_with_a_resolution_in_flight_completes_cleanly, .timeout = 20) {
    world_start();
    cr_assert_eq(start(0, "127.0.0.1:0", NULL), 0);
    char seeds[64];
    snprintf(seeds, sizeof seeds, "127.0.0.1:%d,slow.test:%d", W.port[0], W.port[0]);
    cr_assert_eq(start(1, "127.0.0.1:0", seeds), 0);
    cr_assert(wait_for(is_up, 10 + 1, 5000));
    cr_assert(wait_for(slow_inside, 1, 3000), "the slow resolver was never called");
    on_loop(&W, do_drain, 1);
    cr_assert_not(wait_for(closed_n, 1, 900), "drained with its resolution still running");
    atomic_store(&g_slow_release, true);
    cr_assert(wait_for(closed_n, 1, 3000), "drain never completed after the resolution");
    world_stop();
}

/* Blocks one thread of libuv's pool until released. */
static _Atomic bool g_pool_release;
static _Atomic int g_pool_blocked;
static void block_work(uv_work_t *req) {
    (void)req;
    atomic_fetch_add(&g_pool_blocked, 1);
    uint64_t until = raw_now_ms() + 8000; /* bounded: libuv joins its pool at exit */
    while (!atomic_load(&g_pool_release) && raw_now_ms() < until) {
        usleep(1000);
    }
}
static void block_done(uv_work_t *req, int status) {
    (void)req;
    (void)status;
}

#define POOL 4
static uv_work_t g_blockers[POOL];
static void block_pool(world *w, int unused) {
    (void)unused;
    for (int i = 0; i < POOL; i++) {
        uv_queue_work(&w->loop, &g_blockers[i], block_work, block_done);
    }
}

static bool pool_blocked(world *w, long n) {
    (void)w;
    return atomic_load(&g_pool_blocked) >= n;
}

static uint64_t resolves_started(int i) {
    tr_transport_stats st;
    tr__transport_stats_get(W.t[i], &st);
    return st.resolves;
}

Test(hostnames, close_cancels_a_queued_resolution, .timeout = 20) {
    setenv("UV_THREADPOOL_SIZE", "4", 1); /* read when the pool first starts (below) */
    world_start();
    on_loop(&W, block_pool, 0);
    cr_assert(wait_for(pool_blocked, POOL, 3000), "the pool was not saturated");
    cr_assert_eq(start(0, "127.0.0.1:0", "localhost:7401"), 0);
    uint64_t t0 = raw_now_ms();
    while (resolves_started(0) == 0 && raw_now_ms() - t0 < 3000) {
        sleep_ms(10);
    }
    cr_assert_eq(resolves_started(0), 1, "no resolution was started");
    on_loop(&W, do_close, 0);
    /* queued, not running: cancelled at once, its callback (UV_ECANCELED) ends the close
     * while every pool thread is still busy */
    cr_assert(wait_for(closed_n, 1, 2000), "close waited for a cancellable resolution");
    cr_assert_eq(atomic_load(&g_pool_blocked), POOL);
    atomic_store(&g_pool_release, true);
    world_stop();
}
