/* stock_wire.c — boot and the client message codec of "stock" (stock.h). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "actors/register_wire.h"
#include "actors/registers.h"
#include "actors/stock.h"

_Static_assert(TR_STOCK_RESERVE == 1024 && TR_STOCK_REPLY == 1027,
               "client message types are part of the protocol");

int tr__stock_host_arg(const tr_stock_opts *opts, uint32_t index, void *buf, size_t cap,
                       size_t *len) {
    assert(opts != NULL && buf != NULL && len != NULL);
    char peers[TR_RAFT_NODES_MAX][TR_NAME_MAX + 1];
    /* "stock@" + name must fit a registry name; "@" inside a name is refused */
    if (index >= opts->peer_count ||
        tr__registers_copy_peers(peers, opts->peer_names, opts->peer_count, TR_RAFT_NODES_MAX, 6) !=
            0) {
        return TR_EINVAL;
    }
    tr_service_env env = {.node_index = index,
                          .node_count = opts->peer_count,
                          .node_name = opts->peer_names[index],
                          .node_names = opts->peer_names};
    return tr_entity_host_arg(tr__stock_type_of(opts->bugs), &env, 0, buf, cap, len);
}

int tr__stock_boot(tr_node *node, const tr_stock_opts *opts) {
    assert(node != NULL && opts != NULL);
    uint8_t arg[2048]; /* the host's argument: its peers' names */
    const char *self = tr_node_name(node);
    uint32_t index = 0;
    while (index < opts->peer_count && strcmp(opts->peer_names[index], self) != 0) {
        index++;
    }
    size_t len = 0;
    int rc = tr__stock_host_arg(opts, index, arg, sizeof arg, &len);
    if (rc != 0) {
        return rc;
    }
    tr_spawn_opts so = {.name = "stock"};
    return tr_node_spawn(node, &tr_entity_host, &so, arg, len, NULL);
}

int tr__stock_request_encode(void *buf, size_t cap, const tr_stock_request *r, size_t *len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, 1u + r->has_qty + r->has_id);
    tr_mp_write_cstr(&w, "item");
    tr_mp_write_uint(&w, r->item);
    if (r->has_qty) {
        tr_mp_write_cstr(&w, "qty");
        tr_mp_write_int(&w, r->qty);
    }
    if (r->has_id) {
        tr_mp_write_cstr(&w, "id");
        tr_mp_write_uint(&w, r->id);
    }
    *len = w.len;
    return w.err;
}

static bool id_valid(int64_t id) {
    return id > 0 && (id >> 32) > 0 && (id & 0xffffffff) > 0;
}

int tr__stock_request_decode(const void *body, size_t len, tr_stock_request *out) {
    tr_mp_reader r;
    uint32_t n, klen;
    const char *k;
    int64_t item = -1, id = 0;
    memset(out, 0, sizeof *out);
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_read_map(&r, &n) != 0) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (tr_mp_read_str(&r, &k, &klen) != 0) {
            break;
        }
        if (tr_mp_str_eq(k, klen, "item")) {
            tr__wire_get_int(&r, &item);
        } else if (tr_mp_str_eq(k, klen, "qty")) {
            out->has_qty = tr__wire_get_int(&r, &out->qty) == 0;
        } else if (tr_mp_str_eq(k, klen, "id")) {
            out->has_id = tr__wire_get_int(&r, &id) == 0;
        } else {
            tr_mp_skip(&r);
        }
    }
    if (r.err != 0 || r.p != r.end || item < 0 || item > (int64_t)UINT32_MAX ||
        (out->has_qty && (out->qty < 1 || out->qty > TR_STOCK_QTY_MAX)) ||
        (out->has_id && !id_valid(id))) {
        return TR_EPROTO;
    }
    out->item = (uint32_t)item;
    out->id = (uint64_t)id;
    return 0;
}

int tr__stock_reply_encode_ok(void *buf, size_t cap, int64_t level, size_t *len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, 2);
    tr_mp_write_cstr(&w, "ok");
    tr_mp_write_bool(&w, true);
    tr_mp_write_cstr(&w, "level");
    tr_mp_write_int(&w, level);
    *len = w.len;
    return w.err;
}

/* Error replies have the registers' shape: {"ok": false, "error": e, "indeterminate": b}. */
int tr__stock_reply_encode_err(void *buf, size_t cap, const char *error, bool indeterminate,
                               size_t *len) {
    return tr__registers_reply_encode_err(buf, cap, error, indeterminate, len);
}

_Static_assert(sizeof(((tr_stock_reply *)0)->error) == sizeof(((tr_reg_reply *)0)->error),
               "the error text is copied whole");

/* The registers' reply shape with "level" as its field (an ok reply must carry it), or a
 * string answer of the entity host. */
int tr__stock_reply_decode(const void *body, size_t len, tr_stock_reply *out) {
    tr_reg_reply f;
    tr_mp_reader r;
    memset(out, 0, sizeof *out);
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_peek(&r) == TR_MP_STR) {
        const char *s;
        uint32_t n;
        if (tr_mp_read_str(&r, &s, &n) != 0 || tr_mp_reader_done(&r) != 0) {
            return TR_EPROTO;
        }
        out->from_host = true;
        snprintf(out->error, sizeof out->error, "%.*s", (int)n, s);
        out->indeterminate = tr_mp_str_eq(s, n, "indeterminate");
        return 0;
    }
    int rc = tr__registers_reply_fields(body, len, "level", &f);
    if (rc != 0 || (f.ok && !f.has_value)) {
        return TR_EPROTO;
    }
    out->ok = f.ok;
    out->indeterminate = f.indeterminate;
    out->level = f.value;
    memcpy(out->error, f.error, sizeof out->error);
    return 0;
}
