/* registers.c — boot and the client message codec shared by "cp" and "ap" (registers.h). */
#include "actors/registers.h"

#include <assert.h>
#include <string.h>

#include "actors/register_wire.h"

/* The numbers registers.h documents for `troupe call` users. */
_Static_assert(TR_REG_READ == 512 && TR_REG_WRITE == 513 && TR_REG_REPLY == 514,
               "client message types are part of the protocol");

int tr__registers_copy_peers(char (*peers)[TR_NAME_MAX + 1], const char *const *names,
                             uint32_t count, uint32_t max, size_t prefix_len) {
    if (count == 0 || count > max || names == NULL) {
        return TR_EINVAL;
    }
    for (uint32_t i = 0; i < count; i++) {
        const char *name = names[i];
        if (name == NULL || name[0] == '\0' || strlen(name) + prefix_len > TR_NAME_MAX ||
            strchr(name, '@') != NULL) {
            return TR_EINVAL;
        }
        memcpy(peers[i], name, strlen(name) + 1);
    }
    return 0;
}

uint32_t tr__registers_self_index(tr_ctx *ctx, char (*peers)[TR_NAME_MAX + 1], uint32_t count) {
    const char *me = tr_node_name(tr_ctx_node(ctx));
    uint32_t i = 0;
    while (i < count && strcmp(peers[i], me) != 0) {
        i++;
    }
    return i;
}

int tr__registers_arg_init(tr_register_arg *arg, const tr_registers_opts *opts) {
    assert(arg != NULL && opts != NULL);
    memset(arg, 0, sizeof *arg);
    /* "cp@" + name must fit a registry name. */
    if (tr__registers_copy_peers(arg->peers, opts->peer_names, opts->peer_count, TR_REG_PEERS_MAX,
                                 3) != 0) {
        return TR_EINVAL;
    }
    arg->peer_count = opts->peer_count;
    arg->bugs = opts->bugs;
    arg->quorum_timeout_ms = opts->quorum_timeout_ms ? opts->quorum_timeout_ms : 300;
    arg->gossip_ms = opts->gossip_ms ? opts->gossip_ms : 100;
    return 0;
}

int tr__registers_boot(tr_node *node, const tr_registers_opts *opts) {
    assert(node != NULL && opts != NULL);
    tr_register_arg arg;
    int rc = tr__registers_arg_init(&arg, opts);
    if (rc != 0) {
        return rc;
    }
    if (opts->cp) {
        tr_spawn_opts so = {.name = "cp"};
        rc = tr_node_spawn(node, &tr__register_cp_behaviour, &so, &arg, sizeof arg, NULL);
        if (rc != 0) {
            return rc;
        }
    }
    if (opts->ap) {
        tr_spawn_opts so = {.name = "ap"};
        rc = tr_node_spawn(node, &tr__register_ap_behaviour, &so, &arg, sizeof arg, NULL);
    }
    return rc;
}

int tr__registers_request_encode(void *buf, size_t cap, uint32_t key, bool has_value, int64_t value,
                                 size_t *len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    uint8_t *p = tr_mp_writer_room(&w, 25); /* map 1 + "key" 4 + key 5 + "value" 6 + value 9 */
    if (p != NULL) { /* the common case: written raw, one check for the whole body */
        if (has_value) {
            p = TR_MP_PUT_LIT(p, "\x82\xa3"
                                 "key");
            p = tr_mp_put_uint(p, key);
            p = TR_MP_PUT_LIT(p, "\xa5"
                                 "value");
            p = tr_mp_put_int(p, value);
        } else {
            p = TR_MP_PUT_LIT(p, "\x81\xa3"
                                 "key");
            p = tr_mp_put_uint(p, key);
        }
        tr_mp_writer_advance(&w, p);
        *len = w.len;
        return 0;
    }
    /* {"key": k} or {"key": k, "value": v}: a map header and "key" */
    if (has_value) {
        TR_MP_WRITE_LIT(&w, "\x82\xa3"
                            "key");
    } else {
        TR_MP_WRITE_LIT(&w, "\x81\xa3"
                            "key");
    }
    tr_mp_write_uint(&w, key);
    if (has_value) {
        TR_MP_WRITE_LIT(&w, "\xa5"
                            "value");
        tr_mp_write_int(&w, value);
    }
    *len = w.len;
    return w.err;
}

/* The layouts tr__registers_request_encode writes; false for any other form (the general decoder
 * then reads it, to the same result). */
static bool request_decode_fast(const void *body, size_t len, uint32_t *key, bool *has_value,
                                int64_t *value) {
    tr__wire_fast c = tr__wire_fast_init(body, len);
    int64_t k, v = 0;
    bool has = len > 0 && *(const uint8_t *)body == 0x82;
    if (!(has ? TR__WIRE_FAST_LIT(&c, "\x82\xa3"
                                      "key")
              : TR__WIRE_FAST_LIT(&c, "\x81\xa3"
                                      "key")) ||
        !tr__wire_fast_int(&c, &k) ||
        (has && (!TR__WIRE_FAST_LIT(&c, "\xa5"
                                        "value") ||
                 !tr__wire_fast_int(&c, &v))) ||
        c.p != c.end || k < 0 || k > (int64_t)UINT32_MAX) {
        return false;
    }
    *key = (uint32_t)k;
    *has_value = has;
    *value = v;
    return true;
}

int tr__registers_request_decode(const void *body, size_t len, uint32_t *key, bool *has_value,
                                 int64_t *value) {
    tr_mp_reader r;
    uint32_t n, klen;
    const char *k;
    int64_t key_v = -1;
    if (request_decode_fast(body, len, key, has_value, value)) {
        return 0;
    }
    tr_mp_reader_init(&r, body, len);
    *has_value = false;
    *value = 0;
    if (tr_mp_read_map(&r, &n) != 0) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (tr_mp_read_str(&r, &k, &klen) != 0) {
            break;
        }
        if (tr_mp_str_eq(k, klen, "key")) {
            tr__wire_get_int(&r, &key_v);
        } else if (tr_mp_str_eq(k, klen, "value") && tr_mp_peek(&r) != TR_MP_NIL) {
            *has_value = tr__wire_get_int(&r, value) == 0;
        } else {
            tr_mp_skip(&r);
        }
    }
    if (r.err != 0 || r.p != r.end || key_v < 0 || key_v > (int64_t)UINT32_MAX) {
        return TR_EPROTO;
    }
    *key = (uint32_t)key_v;
    return 0;
}

int tr__registers_reply_encode_ok(void *buf, size_t cap, bool has_value, int64_t value,
                                  size_t *len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    uint8_t *p = tr_mp_writer_room(&w, 20); /* map, "ok", true, "value": 11, value 9 */
    if (p != NULL) { /* the common case: written raw, one check for the whole body */
        p = TR_MP_PUT_LIT(p, "\x82\xa2"
                             "ok"
                             "\xc3\xa5"
                             "value");
        if (has_value) {
            p = tr_mp_put_int(p, value);
        } else {
            *p++ = 0xc0; /* nil */
        }
        tr_mp_writer_advance(&w, p);
        *len = w.len;
        return 0;
    }
    TR_MP_WRITE_LIT(&w, "\x82\xa2"
                        "ok"
                        "\xc3\xa5"
                        "value"); /* {"ok": true, "value": */
    if (has_value) {
        tr_mp_write_int(&w, value);
    } else {
        tr_mp_write_nil(&w);
    }
    *len = w.len;
    return w.err;
}

int tr__registers_reply_encode_err(void *buf, size_t cap, const char *error, bool indeterminate,
                                   size_t *len) {
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, 3);
    tr_mp_write_cstr(&w, "ok");
    tr_mp_write_bool(&w, false);
    tr_mp_write_cstr(&w, "error");
    tr_mp_write_cstr(&w, error);
    tr_mp_write_cstr(&w, "indeterminate");
    tr_mp_write_bool(&w, indeterminate);
    *len = w.len;
    return w.err;
}

/* {"ok": true|false, <field>: int|nil}, the layout of tr__registers_reply_encode_ok (and of the
 * stock service's replies with their field); false for any other form (the general decoder
 * then reads it, to the same result). *out is zeroed. */
static inline __attribute__((always_inline)) bool
reply_fields_fast(const void *body, size_t len, const char *field, size_t flen, tr_reg_reply *out) {
    tr__wire_fast c = tr__wire_fast_init(body, len);
    /* A field named like a key the general decoder tests first would be read as that key. */
    if (flen >= 32 || tr_mp_str_eq(field, (uint32_t)flen, "ok") ||
        tr_mp_str_eq(field, (uint32_t)flen, "indeterminate") ||
        tr_mp_str_eq(field, (uint32_t)flen, "error")) {
        return false;
    }
    const char hdr = (char)(0xa0 | flen); /* fixstr */
    if (!TR__WIRE_FAST_LIT(&c, "\x82\xa2"
                               "ok") ||
        c.p == c.end || (c.p[0] & 0xfe) != 0xc2) {
        return false;
    }
    out->ok = *c.p++ == 0xc3;
    if (!tr__wire_fast_lit(&c, &hdr, 1) || !tr__wire_fast_lit(&c, field, flen) ||
        !tr__wire_fast_int_or_nil(&c, &out->has_value, &out->value) || c.p != c.end) {
        memset(out, 0, sizeof *out);
        return false;
    }
    return true;
}

/* Any form; *out zeroed by the caller. */
static int reply_fields_general(const void *body, size_t len, const char *field,
                                tr_reg_reply *out) {
    tr_mp_reader r;
    uint32_t n, klen, slen;
    const char *k, *s;
    bool have_ok = false;
    tr_mp_reader_init(&r, body, len);
    if (tr_mp_read_map(&r, &n) != 0) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < n && r.err == 0; i++) {
        if (tr_mp_read_str(&r, &k, &klen) != 0) {
            break;
        }
        if (tr_mp_str_eq(k, klen, "ok")) {
            have_ok = tr_mp_read_bool(&r, &out->ok) == 0;
        } else if (tr_mp_str_eq(k, klen, field) && tr_mp_peek(&r) != TR_MP_NIL) {
            out->has_value = tr__wire_get_int(&r, &out->value) == 0;
        } else if (tr_mp_str_eq(k, klen, "indeterminate")) {
            tr_mp_read_bool(&r, &out->indeterminate);
        } else if (tr_mp_str_eq(k, klen, "error") && tr_mp_read_str(&r, &s, &slen) == 0) {
            size_t m = slen < sizeof out->error - 1 ? slen : sizeof out->error - 1;
            memcpy(out->error, s, m);
            out->error[m] = '\0';
        } else {
            tr_mp_skip(&r);
        }
    }
    if (r.err != 0 || r.p != r.end || !have_ok) {
        return TR_EPROTO;
    }
    return 0;
}

int tr__registers_reply_fields(const void *body, size_t len, const char *field, tr_reg_reply *out) {
    memset(out, 0, sizeof *out);
    if (reply_fields_fast(body, len, field, strlen(field), out)) {
        return 0;
    }
    return reply_fields_general(body, len, field, out);
}

/* tr__registers_reply_fields with "value", its fast path compiled for that literal. */
int tr__registers_reply_decode(const void *body, size_t len, tr_reg_reply *out) {
    memset(out, 0, sizeof *out);
    if (reply_fields_fast(body, len, "value", 5, out)) {
        return 0;
    }
    return reply_fields_general(body, len, "value", out);
}
