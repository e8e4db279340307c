/* builtin_shop.c — the shop's descriptor, its simulated customers and its provider fault
 * (builtin_shop.h). */
#include "harness/builtin_shop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/shop_internal.h"

#define MS ((uint64_t)1000000)
#define THINK_MIN_MS 500
#define THINK_SPAN_MS 1000
#define ORDER_ATTEMPTS 60
#define RETRY_MS 100
#define RETRY_CAP_MS 1600
#define RESTOCK_QTY 5
#define CANCEL_PERCENT 75 /* of the orders after a confirmed one: cancel that one instead */
#define AGAIN_PERCENT 10  /* of the other orders: send an earlier key again */
#define AGAIN_WINDOW 16   /* ... one of the customer's last this many keys */

enum {
    K_NONE = 0,
    K_ORDER,
    K_READ,
    K_RESTOCK,
    K_CANCEL
};

typedef struct shop_client {
    uint32_t seq;
    uint8_t kind; /* the open operation (K_NONE: none) */
    bool open;    /* an order or restock whose outcome is still unknown */
    uint32_t item, qty, attempts;
    uint64_t restock_id;
    uint64_t confirmed; /* the customer's last order, when it was answered confirmed (or 0) */
    uint64_t due_ns;    /* the next attempt or operation, from then on */
    bool probe_drawn;   /* the final phase's order was drawn */
    bool final_done;    /* ... and answered (or given up), and a think time passed */
    char key[24];
    uint32_t key_len;
    char error[48];
} shop_client;

/* ---- choosing --------------------------------------------------------------------------- */

static void draw(tr_workload_client *cl, shop_client *s) {
    uint32_t keys = cl->key_count ? cl->key_count : 1;
    uint32_t dice = (uint32_t)tr_sim_rng_below(cl->rng, 100);
    s->item = (uint32_t)tr_sim_rng_below(cl->rng, keys);
    s->attempts = 0;
    if (cl->id == 1 && dice < 20) { /* the operator restocks */
        s->kind = K_RESTOCK;
        s->restock_id = tr__stock_id(cl->id, ++s->seq);
        s->open = true;
    } else if (dice < 70) {
        uint32_t again = (uint32_t)tr_sim_rng_below(cl->rng, 100);
        s->open = true;
        if (s->confirmed != 0 && again < CANCEL_PERCENT) { /* the customer changed its mind */
            s->kind = K_CANCEL;
            return;
        }
        s->kind = K_ORDER;
        s->qty = 1 + (uint32_t)tr_sim_rng_below(cl->rng, 3);
        uint32_t seq = ++s->seq;
        if (again >= 100 - AGAIN_PERCENT) { /* a repeated submission of an earlier key */
            seq -= (uint32_t)tr_sim_rng_below(cl->rng, seq < AGAIN_WINDOW ? seq : AGAIN_WINDOW);
            s->seq -= seq != s->seq;
        }
        s->key_len = (uint32_t)snprintf(s->key, sizeof s->key, "c%u-%u", cl->id, seq);
    } else {
        s->kind = K_READ;
    }
}

static int write_body(shop_client *s, uint32_t customer, tr_mp_writer *w) {
    uint8_t *p = tr_mp_writer_room(w, TR_SHOP_BODY_MAX);
    size_t len = 0;
    int rc;
    if (p == NULL) {
        return TR_ETOOBIG;
    }
    if (s->kind == K_CANCEL) {
        rc = tr__shop_get_encode(p, TR_SHOP_BODY_MAX, s->confirmed, &len);
    } else if (s->kind == K_ORDER) {
        tr_shop_place pl = {
            .key_len = s->key_len, .item = s->item, .qty = s->qty, .customer = customer};
        memcpy(pl.key, s->key, s->key_len);
        rc = tr__shop_place_encode(p, TR_SHOP_BODY_MAX, &pl, &len);
    } else {
        tr_stock_request rq = {.item = s->item,
                               .has_qty = s->kind == K_RESTOCK,
                               .has_id = s->kind == K_RESTOCK,
                               .qty = RESTOCK_QTY,
                               .id = s->restock_id};
        rc = tr__stock_request_encode(p, TR_SHOP_BODY_MAX, &rq, &len);
    }
    if (rc == 0) {
        tr_mp_writer_advance(w, p + len);
    }
    return rc;
}

/* The final phase's order, key "q<client>": placed after the heal, it is refused while its
 * coordinator's breaker in front of the provider is open, so its answer shows the breaker
 * closed again. */
static void draw_final(tr_workload_client *cl, shop_client *s) {
    s->probe_drawn = true;
    s->open = true;
    s->kind = K_ORDER;
    s->attempts = 0;
    s->item = (uint32_t)tr_sim_rng_below(cl->rng, cl->key_count ? cl->key_count : 1);
    s->qty = 1;
    s->key_len = (uint32_t)snprintf(s->key, sizeof s->key, "q%u", cl->id);
}

static int shop_next(tr_workload_client *cl, tr_workload_op *op, uint32_t *type,
                     const char **target, tr_mp_writer *w) {
    shop_client *s = cl->state;
    bool final = cl->phase == TR_WORKLOAD_FINAL;
    if (s->final_done || (!final && !s->open && cl->phase != TR_WORKLOAD_RUNNING)) {
        return TR_ENOENT;
    }
    if (cl->now_ns < s->due_ns) {
        cl->wait_ns = s->due_ns - cl->now_ns;
        return TR_EAGAIN;
    }
    if (final && !s->open && s->probe_drawn) { /* answered, and a think time passed */
        s->final_done = true;
        return TR_ENOENT;
    }
    if (!s->open) {
        final ? draw_final(cl, s) : draw(cl, s);
    }
    int rc = write_body(s, cl->id, w);
    if (rc != 0) {
        return rc;
    }
    s->attempts++;
    uint64_t hash = tr__shop_key_hash(s->key, s->key_len);
    static const char *const names[] = {"", "order", "read", "restock", "cancel"};
    *op = (tr_workload_op){.f = names[s->kind], .key = s->item};
    if (s->kind == K_CANCEL) {
        op->has_value = true;
        op->value = (int64_t)s->confirmed;
        *type = TR_SHOP_CANCEL;
        *target = TR_SHOP_ORDERS_NAME;
    } else if (s->kind == K_ORDER) {
        op->has_value = op->pair = true;
        op->value = (int64_t)(hash >> 1);
        *type = TR_SHOP_PLACE;
        *target = TR_SHOP_ORDERS_NAME;
    } else {
        op->has_value = op->pair = s->kind == K_RESTOCK;
        op->value = RESTOCK_QTY;
        op->value_to = (int64_t)s->restock_id;
        *type = s->kind == K_READ ? TR_STOCK_READ : TR_STOCK_RESTOCK;
        *target = "stock";
    }
    return 0;
}

/* ---- outcomes --------------------------------------------------------------------------- */

/* The open operation's outcome is unknown: retry it after a back-off (given up after
 * ORDER_ATTEMPTS: its fate stays unknown). */
static tr_history_type retry(tr_workload_client *cl, shop_client *s, tr_history_type t) {
    uint64_t base = RETRY_MS;
    for (uint32_t i = 1; i < s->attempts && base < RETRY_CAP_MS; i++) {
        base *= 2;
    }
    base = base < RETRY_CAP_MS ? base : RETRY_CAP_MS;
    s->due_ns = cl->now_ns + (1 + tr_sim_rng_below(cl->rng, base)) * MS;
    s->open = s->kind != K_READ && s->attempts < ORDER_ATTEMPTS;
    return t;
}

static tr_history_type closed(tr_workload_client *cl, shop_client *s, tr_history_type t) {
    s->open = false;
    s->confirmed = s->kind == K_CANCEL ? 0 : s->confirmed;
    s->due_ns = cl->now_ns + (THINK_MIN_MS + tr_sim_rng_below(cl->rng, THINK_SPAN_MS)) * MS;
    return t;
}

static tr_history_type order_done(tr_workload_client *cl, shop_client *s, const tr_msg *reply,
                                  tr_workload_op *done, const char **error) {
    tr_shop_order o;
    if (tr__shop_answer_decode(reply->body, reply->body_len, &o, s->error, sizeof s->error) != 0) {
        *error = "malformed reply";
        return retry(cl, s, TR_HISTORY_INFO);
    }
    *error = s->error;
    if (s->error[0] != '\0') { /* every error string but a bad request is transient */
        bool definite = strncmp(s->error, "bad request", 11) == 0 ||
                        strcmp(s->error, "key conflict") == 0 ||
                        strcmp(s->error, "no such order") == 0;
        return definite ? closed(cl, s, TR_HISTORY_FAIL) : retry(cl, s, TR_HISTORY_INFO);
    }
    done->value_to = (int64_t)o.id;
    bool cancel = s->kind == K_CANCEL;
    if (o.state == TR_SHOP_PENDING || (cancel && o.state == TR_SHOP_CONFIRMED)) {
        snprintf(s->error, sizeof s->error, "pending");
        return retry(cl, s, TR_HISTORY_INFO);
    }
    snprintf(s->error, sizeof s->error, "%s", o.state == TR_SHOP_CONFIRMED ? "" : o.reason);
    s->confirmed = !cancel && o.state == TR_SHOP_CONFIRMED ? o.id : 0;
    return closed(cl, s, TR_HISTORY_OK);
}

static tr_history_type shop_complete(tr_workload_client *cl, const tr_workload_op *op,
                                     const tr_msg *reply, int err, tr_workload_op *done,
                                     const char **error) {
    shop_client *s = cl->state;
    tr_stock_reply rep;
    *done = *op;
    if (reply == NULL) {
        *error = err == TR_ETIMEDOUT ? "timeout" : err == TR_ECLOSED ? "crashed" : "send refused";
        return retry(cl, s, s->kind == K_READ ? TR_HISTORY_FAIL : TR_HISTORY_INFO);
    }
    if (s->kind == K_ORDER || s->kind == K_CANCEL) {
        return order_done(cl, s, reply, done, error);
    }
    if (tr__stock_reply_decode(reply->body, reply->body_len, &rep) != 0) {
        *error = "malformed reply";
        return retry(cl, s, s->kind == K_READ ? TR_HISTORY_FAIL : TR_HISTORY_INFO);
    }
    snprintf(s->error, sizeof s->error, "%s", rep.error);
    *error = s->error;
    if (!rep.ok) {
        return retry(cl, s,
                     rep.indeterminate && s->kind != K_READ ? TR_HISTORY_INFO : TR_HISTORY_FAIL);
    }
    if (s->kind == K_READ) {
        done->has_value = true;
        done->value = rep.level;
    }
    return closed(cl, s, TR_HISTORY_OK);
}

static bool shop_busy(const tr_workload_client *cl) {
    const shop_client *s = cl->state;
    return (cl->phase == TR_WORKLOAD_STOPPING && s->open) ||
           (cl->phase == TR_WORKLOAD_FINAL && !s->final_done);
}

const tr_workload tr__shop_workload = {.clients_per_node = 6,
                                       .client_state_size = sizeof(shop_client),
                                       .client_next = shop_next,
                                       .client_complete = shop_complete,
                                       .client_busy = shop_busy};

/* ---- the provider fault ----------------------------------------------------------------- */

static void provider_mode(tr_sim *sim, uint32_t i, int64_t mode) {
    tr_node *node = tr_sim_node(sim, i);
    tr_addr to;
    uint8_t body[3] = {0x91, (uint8_t)mode};
    if (node != NULL && tr_sim_node_is_up(sim, i) &&
        tr_node_lookup(node, TR_SHOP_PROVIDER_NAME, &to) == 0) {
        (void)tr_node_send(node, to, TR__SHOP_PROVIDER_FAULT, body, 2);
    }
}

/* failing, slow or silent: chosen from the virtual time and the node, so a seed replays it */
static void provider_start(tr_sim *sim, uint32_t i) {
    provider_mode(sim, i, 1 + (int64_t)((tr_sim_now_ns(sim) / MS + i) % 3));
}

static void provider_stop(tr_sim *sim, uint32_t i) {
    provider_mode(sim, i, 0);
}

static const tr_service_fault shop_faults[] = {{"provider", provider_start, provider_stop}};

/* ---- the descriptor --------------------------------------------------------------------- */

static const char *const shop_bugs[] = {TR_SHOP_BUG_NAIVE, TR_SHOP_BUG_PUBLISH_EARLY,
                                        TR_SHOP_BUG_VOLATILE_IDEMPOTENCY, TR_SHOP_BUG_REFUND_TWICE,
                                        NULL};

static int place_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    tr_service_place p = {.node_index = env->node_index, .node_count = env->node_count};
    if (cap < sizeof p) {
        return TR_ETOOBIG;
    }
    if (env->bug) {
        (void)snprintf(p.bug, sizeof p.bug, "%s", env->bug);
    }
    memcpy(buf, &p, sizeof p);
    *len = sizeof p;
    return 0;
}

/* The provider: 5% declines in the simulator; on a real node TROUPE_SHOP_PROVIDER
 * ("DELAY_MS,FAIL_PERCENT,DECLINE_PERCENT", default "0,0,5") configures it. */
static int provider_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    tr_provider_config c = {.decline_percent = 5};
    const char *conf = env->simulated ? NULL : getenv("TROUPE_SHOP_PROVIDER");
    unsigned d, f, k;
    if (conf != NULL && (sscanf(conf, "%u,%u,%u", &d, &f, &k) != 3 || d > 60000 || f + k > 100)) {
        return TR_EINVAL;
    }
    if (conf != NULL) {
        c = (tr_provider_config){d, f, k};
    }
    if (cap < sizeof c) {
        return TR_ETOOBIG;
    }
    memcpy(buf, &c, sizeof c);
    *len = sizeof c;
    return 0;
}

/* The coordinator: the simulator's nodes each call their own provider; on a real node
 * TROUPE_SHOP_PAYMENTS_NODE (a name among the nodes, e.g. "n3") makes every coordinator call
 * the provider of that one node, the payments node. */
static int orders_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    tr_orders_config c;
    size_t placed = 0;
    memset(&c, 0, sizeof c);
    int rc = place_arg(env, &c.place, sizeof c.place, &placed);
    const char *node = env->simulated ? NULL : getenv("TROUPE_SHOP_PAYMENTS_NODE");
    bool known = node == NULL;
    for (uint32_t i = 0; !known && i < env->node_count; i++) {
        known = strcmp(node, env->node_names[i]) == 0;
    }
    if (rc != 0 || !known || cap < sizeof c) {
        return rc != 0 ? rc : !known ? TR_EINVAL : TR_ETOOBIG;
    }
    int n = node ? snprintf(c.provider, sizeof c.provider, "%s@%s", TR_SHOP_PROVIDER_NAME, node)
                 : snprintf(c.provider, sizeof c.provider, "%s", TR_SHOP_PROVIDER_NAME);
    if (n < 0 || (size_t)n >= sizeof c.provider) {
        return TR_EINVAL;
    }
    memcpy(buf, &c, sizeof c);
    *len = sizeof c;
    return 0;
}

static int entity_arg(const tr_entity_type *t, const tr_service_env *env, void *buf, size_t cap,
                      size_t *len) {
    return tr_entity_host_arg(t, env, 0, buf, cap, len);
}

static int order_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    return entity_arg(&tr__order_type, env, buf, cap, len);
}

static int payment_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    return entity_arg(&tr__payment_type, env, buf, cap, len);
}

static int stock_arg(const tr_service_env *env, void *buf, size_t cap, size_t *len) {
    return entity_arg(&tr__stock_orders_type, env, buf, cap, len);
}

static const tr_service_actor shop_actors[] = {
    {.name = TR_TOPICS_NAME, .behaviour = &tr_topics_broker, .arg = place_arg},
    {.name = "stock", .behaviour = &tr_entity_host, .arg = stock_arg},
    {.name = TR_SHOP_ORDER_TYPE_NAME, .behaviour = &tr_entity_host, .arg = order_arg},
    {.name = TR_SHOP_PAYMENTS_NAME, .behaviour = &tr_entity_host, .arg = payment_arg},
    {.name = TR_SHOP_PROVIDER_NAME, .behaviour = &tr__provider_behaviour, .arg = provider_arg},
    {.name = TR__SHOP_AUDIT_NAME, .behaviour = &tr__audit_behaviour, .arg = place_arg},
    {.name = TR_SHOP_ORDERS_NAME, .behaviour = &tr__orders_behaviour, .arg = orders_arg},
};

static const tr_service_request shop_requests[] = {{"place", TR_SHOP_PLACE},
                                                   {"get", TR_SHOP_GET},
                                                   {"cancel", TR_SHOP_CANCEL},
                                                   {"restock", TR_STOCK_RESTOCK},
                                                   {"read", TR_STOCK_READ}};

const tr_service tr__builtin_shop = {.abi = TR_SERVICE_ABI,
                                     .name = "shop",
                                     .actors = shop_actors,
                                     .actor_count = sizeof shop_actors / sizeof shop_actors[0],
                                     .requests = shop_requests,
                                     .request_count = 5,
                                     .workload = &tr__shop_workload,
                                     .checks = tr__shop_checks,
                                     .check_count = TR__SHOP_CHECK_COUNT,
                                     .faults = shop_faults,
                                     .fault_count = 1,
                                     .bugs = shop_bugs,
                                     .nemesis = TR_NEMESIS_PARTITION | TR_NEMESIS_CRASH |
                                                TR_NEMESIS_PAUSE | TR_NEMESIS_CLOCK |
                                                TR_NEMESIS_LOSS};
