/* bench_http.c — `troupe bench http`: GET /products/{id} through the HTTP gateway to the
 * catalog actor, next to libmicrohttpd's own minimal handler, in the same run, both driven by
 * wrk (Debian's wrk, found on PATH) with keep-alive connections.
 *
 * This process runs one node (a temporary store) hosting the catalog, writes one product,
 * starts the gateway (cli/gateway.h) and a minimal libmicrohttpd server configured as the
 * gateway is (epoll, the same thread pool, the same limits) that answers every request with
 * the same product's JSON bytes without looking at anything: the library's limit on this
 * machine. wrk runs against each for the same duration (-n N: N seconds, default 5), with
 * WRK_THREADS threads and WRK_CONNECTIONS connections. Figures: requests/s of each, the
 * gateway's share of the minimal server's rate (percent), and the gateway's p50 and p99
 * latency.
 * Checks (exit 1 when one fails): every response was 2xx; the gateway keeps no cache: the
 * catalog actor handled one GET per request the gateway answered (its own count,
 * TR_CATALOG_STATS), and the gateway answered at least the requests wrk completed.
 *
 * Then POST /orders end to end: the node also hosts the shop (docs/shop.md), and wrk (with a
 * Lua script giving every request a fresh Idempotency-Key) places orders through the gateway
 * for the same duration: each is the whole saga (reserve, charge, confirm or compensate),
 * journaled durably. Figures: orders/s, p50 and p99, and the answers that were not 2xx
 * (503 "busy" when the node has too many orders in flight): reported, not a failure; the
 * run fails when no order was placed. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/catalog.h"
#include "bench/bench.h"
#include "bench/bench_util.h"
#include "cli/gateway.h"
#include "harness/builtin_catalog.h"
#include "harness/builtin_shop.h"

#define WRK_THREADS 2
#define WRK_CONNECTIONS 32
#define DURATION_S 5
#define PRODUCT_ID 1

static const char product_json[] =
    "{\"id\":1,\"name\":\"Teapot\",\"price_cents\":2599,\"description\":\"cast iron\","
    "\"version\":1}";

static enum MHD_Result minimal_handler(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof product_json - 1, (void *)product_json, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

typedef struct wrk_result {
    double rps, p50_ms, p99_ms;
    unsigned long long requests, non_2xx;
} wrk_result;

/* "1.23ms", "850.00us", "1.02s" in milliseconds. */
static double wrk_ms(const char *v) {
    char *end;
    double x = strtod(v, &end);
    return !strncmp(end, "us", 2) ? x / 1000 : !strncmp(end, "ms", 2) ? x : x * 1000;
}

/* wrk's script for POST /orders: a fresh Idempotency-Key per request (the thread's number and
 * a counter), items spread over 16. */
static const char orders_lua[] =
    "local n, t = 0, 0\n"
    "local threads = 0\n"
    "function setup(thread) threads = threads + 1; thread:set('tid', threads) end\n"
    "function init(args) t = tid or 0 end\n"
    "function request()\n"
    "  n = n + 1\n"
    "  return wrk.format('POST', '/orders', {['Idempotency-Key'] = 'bench-' .. t .. '-' .. n,\n"
    "    ['Content-Type'] = 'application/json'},\n"
    "    '{\"item\": ' .. (n % 16) .. ', \"qty\": 1}')\n"
    "end\n";

/* Runs wrk against port and path for seconds (with the Lua script at lua, or none); 0, or 2
 * (it could not run or printed no rate). */
static int run_wrk(unsigned port, const char *path, const char *lua, long seconds,
                   wrk_result *out) {
    char cmd[512], line[512], v[64];
    snprintf(cmd, sizeof cmd, "wrk -t%d -c%d -d%lds --latency %s%s http://127.0.0.1:%u%s 2>&1",
             WRK_THREADS, WRK_CONNECTIONS, seconds, lua ? "-s " : "", lua ? lua : "", port, path);
    memset(out, 0, sizeof *out);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return 2;
    }
    while (fgets(line, sizeof line, p)) {
        unsigned long long n;
        if (sscanf(line, " Requests/sec: %lf", &out->rps) == 1) {
            continue;
        }
        if (sscanf(line, " 50%% %63s", v) == 1) {
            out->p50_ms = wrk_ms(v);
        } else if (sscanf(line, " 99%% %63s", v) == 1) {
            out->p99_ms = wrk_ms(v);
        } else if (sscanf(line, " %llu requests in", &n) == 1) {
            out->requests = n;
        } else if (sscanf(line, " Non-2xx or 3xx responses: %llu", &n) == 1) {
            out->non_2xx = n;
        }
    }
    return pclose(p) == 0 && out->rps > 0 ? 0 : 2;
}

/* Writes the product through the catalog actor. 0, or 2. */
static int seed_product(tr_bench_env *env) {
    uint8_t body[64];
    tr_mp_writer w;
    tr_mp_writer_init(&w, body, sizeof body);
    tr_mp_write_array(&w, 4);
    tr_mp_write_int(&w, PRODUCT_ID);
    tr_mp_write_cstr(&w, "Teapot");
    tr_mp_write_int(&w, 2599);
    tr_mp_write_cstr(&w, "cast iron");
    tr_msg *reply = NULL;
    tr_addr to = {.node = tr_node_id(env->node)};
    int rc = tr_inbox_request(env->inbox, to, "catalog", TR_CATALOG_PUT, body, w.len, 5000, &reply);
    tr_catalog_product p;
    bool ok = rc == 0 && tr__catalog_record_decode(reply->body, reply->body_len, true, &p) == 0;
    if (reply) {
        tr_msg_free(reply);
    }
    return ok ? 0 : 2;
}

/* The catalog and the shop on this one node, and the product. 0, or 2. */
static int boot_services(tr_bench_env *env) {
    const char *names[] = {"n1"};
    tr_service_env senv = {.node_index = 0,
                           .node_count = 1,
                           .node_name = "n1",
                           .node_names = names,
                           .simulated = false};
    if (tr_service_boot(&tr__builtin_catalog, env->node, &senv) != 0 ||
        tr_service_boot(&tr__builtin_shop, env->node, &senv) != 0) {
        fprintf(stderr, "troupe bench http: the catalog or the shop did not start\n");
        return 2;
    }
    return seed_product(env);
}

/* POST /orders under wrk: the saga end to end. 0, or 2. */
static int measure_orders(const tr_bench_opts *o, tr__gateway *gw, long seconds) {
    char lua[] = "/tmp/troupe-bench-orders-XXXXXX";
    int fd = mkstemp(lua);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    wrk_result r;
    bool wrote = f && fputs(orders_lua, f) >= 0;
    if (f) {
        fclose(f);
    }
    int rc = wrote ? run_wrk(tr__gateway_port(gw), "/orders", lua, seconds, &r) : 2;
    if (fd >= 0) {
        unlink(lua);
    }
    if (rc != 0) {
        fprintf(stderr, "troupe bench http: wrk did not run for POST /orders\n");
        return 2;
    }
    tr_bench_report(o, "http_orders", r.rps, "req/s");
    tr_bench_report(o, "http_orders_p50", r.p50_ms, "ms");
    tr_bench_report(o, "http_orders_p99", r.p99_ms, "ms");
    tr_bench_report(o, "http_orders_non_2xx", (double)r.non_2xx, "responses");
    if (r.requests <= r.non_2xx) {
        return tr_bench_fail(o, "http", "no order was placed");
    }
    return 0;
}

/* The catalog actor's count of GETs handled. 0, or 2. */
static int catalog_gets(tr_bench_env *env, uint64_t *gets) {
    tr_msg *reply = NULL;
    tr_addr to = {.node = tr_node_id(env->node)};
    static const uint8_t empty[] = {0x90};
    int rc = tr_inbox_request(env->inbox, to, "catalog", TR_CATALOG_STATS, empty, sizeof empty,
                              5000, &reply);
    int64_t v[1];
    tr_mp_reader r;
    uint32_t n = 0;
    if (rc == 0) { /* [gets, ...]: the first figure is the one counted here */
        tr_mp_reader_init(&r, reply->body, reply->body_len);
        rc = tr_mp_read_array(&r, &n) || n < 1 || tr_mp_read_int(&r, &v[0]) ? 2 : 0;
        tr_msg_free(reply);
    }
    *gets = rc == 0 ? (uint64_t)v[0] : 0;
    return rc == 0 ? 0 : 2;
}

/* The gateway's and the catalog's counts once they are still: requests wrk gave up on may
 * still be in flight when it exits, so read both until two rounds agree (each STATS round
 * trip lets the stragglers finish; they end within the gateway's deadline). 0, or 2. */
static int settled_counts(tr_bench_env *env, tr__gateway *gw, uint64_t *served, uint64_t *gets) {
    for (int round = 0; round < 10000; round++) {
        uint64_t before = tr__gateway_requests(gw);
        if (catalog_gets(env, gets) != 0) {
            return 2;
        }
        *served = tr__gateway_requests(gw);
        if (*served == before && *gets == *served) {
            return 0;
        }
    }
    return 0; /* never still: the caller's comparison fails and says so */
}

/* Both servers under wrk, the figures and the checks. */
static int measure(const tr_bench_opts *o, tr_bench_env *env, tr__gateway *gw,
                   struct MHD_Daemon *minimal) {
    long seconds = tr_bench_size(o, DURATION_S);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(minimal, MHD_DAEMON_INFO_BIND_PORT);
    wrk_result g, m;
    uint64_t gets0 = 0, gets = 0, served0 = 0, served = 0;
    if (settled_counts(env, gw, &served0, &gets0) != 0 ||
        run_wrk(tr__gateway_port(gw), "/products/1", NULL, seconds, &g) != 0 ||
        settled_counts(env, gw, &served, &gets) != 0 ||
        run_wrk(info ? info->port : 0, "/products/1", NULL, seconds, &m) != 0) {
        fprintf(stderr, "troupe bench http: wrk did not run or printed no rate (is it "
                        "installed? scripts/bootstrap.sh installs it)\n");
        return 2;
    }
    served -= served0;
    gets -= gets0;
    tr_bench_report(o, "http_gateway", g.rps, "req/s");
    tr_bench_report(o, "http_minimal", m.rps, "req/s");
    tr_bench_report(o, "http_ratio", 100.0 * g.rps / m.rps, "percent");
    tr_bench_report(o, "http_gateway_p50", g.p50_ms, "ms");
    tr_bench_report(o, "http_gateway_p99", g.p99_ms, "ms");
    tr_bench_report(o, "http_catalog_gets", (double)gets, "msgs");
    tr_bench_report(o, "http_gateway_requests", (double)served, "requests");
    if (g.non_2xx || m.non_2xx) {
        return tr_bench_fail(o, "http", "non-2xx responses");
    }
    if (gets != served || served < g.requests) {
        return tr_bench_fail(o, "http", "catalog messages != gateway requests");
    }
    return measure_orders(o, gw, seconds);
}

int tr_bench_http(const tr_bench_opts *o) {
    tr_bench_env env;
    if (tr_bench_start(o, "http", &env) != 0) {
        return 2;
    }
    int rc = boot_services(&env);
    tr__gateway *gw = NULL;
    char err[256] = "";
    tr__gateway_config gc = {.addr = "127.0.0.1:0"};
    if (rc == 0 && tr__gateway_start(env.rt, &gc, &gw, err, sizeof err) != 0) {
        fprintf(stderr, "troupe bench http: %s\n", err);
        rc = 2;
    }
    struct MHD_Daemon *minimal = NULL;
    if (rc == 0) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        minimal = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, minimal_handler, NULL,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
            (unsigned)TR__GATEWAY_THREADS_DEFAULT, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)TR__GATEWAY_CONNECTIONS_DEFAULT, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)TR__GATEWAY_IDLE_S_DEFAULT, MHD_OPTION_END);
        rc = minimal ? measure(o, &env, gw, minimal) : 2;
    }
    if (minimal) {
        MHD_stop_daemon(minimal);
    }
    tr__gateway_stop(gw);
    tr_bench_stop(&env);
    return rc;
}
