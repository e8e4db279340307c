/* bench_body.c — msgpack bodies of the benchmarks' messages (see bench_util.h): packed with
 * msgpack-c's packer into a stack buffer, read back by a strict hand-written reader. Pure
 * functions, no runtime: tests/bench/test_bench_body.c compiles this file alone. */
#include <assert.h>
#include <msgpack.h>
#include <string.h>

#include "bench/bench_util.h"

/* ---- msgpack bodies ------------------------------------------------------------------ */

typedef struct stack_buf {
    uint8_t *data;
    size_t len;
} stack_buf;

/* msgpack_packer's write callback into a TR_BENCH_BODY_MAX buffer. */
static int stack_write(void *data, const char *buf, size_t len) {
    stack_buf *sb = data;
    if (sb->len + len > TR_BENCH_BODY_MAX) {
        return -1;
    }
    memcpy(sb->data + sb->len, buf, len);
    sb->len += len;
    return 0;
}

size_t tr_bench_pack_uint(uint8_t *buf, uint64_t v) {
    stack_buf sb = {buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, stack_write);
    int rc = msgpack_pack_uint64(&pk, v);
    assert(rc == 0 && sb.len >= 1 && sb.len <= 9);
    (void)rc;
    return sb.len;
}

size_t tr_bench_pack_addr(uint8_t *buf, tr_addr a) {
    stack_buf sb = {buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, stack_write);
    int rc = msgpack_pack_array(&pk, 2);
    rc |= msgpack_pack_uint32(&pk, a.node);
    rc |= msgpack_pack_uint64(&pk, a.actor);
    assert(rc == 0 && sb.len >= 3);
    (void)rc;
    return sb.len;
}

size_t tr_bench_pack_nil(uint8_t *buf) {
    stack_buf sb = {buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, stack_write);
    int rc = msgpack_pack_nil(&pk);
    assert(rc == 0 && sb.len == 1);
    (void)rc;
    return sb.len;
}

static inline uint64_t load_be16(const uint8_t *p) {
    return ((uint64_t)p[0] << 8) | p[1];
}

static inline uint64_t load_be32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return __builtin_bswap32(v);
}

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return __builtin_bswap64(v);
}

/* Reads one non-negative msgpack integer at body[*pos]; advances *pos. This runs once per
 * message in every benchmark, so each width is a straight load rather than a byte loop. */
static inline int read_uint(const uint8_t *body, size_t len, size_t *pos, uint64_t *out) {
    if (*pos >= len) {
        return TR_EPROTO;
    }
    const uint8_t *p = body + *pos;
    size_t left = len - *pos - 1; /* bytes after the tag */
    size_t width;
    switch (p[0]) {
    case 0xcc:
    case 0xd0: width = 1; break;
    case 0xcd:
    case 0xd1: width = 2; break;
    case 0xce:
    case 0xd2: width = 4; break;
    case 0xcf:
    case 0xd3: width = 8; break;
    default:
        if (p[0] > 0x7f) { /* negative fixint, nil, floats, strings, containers... */
            return TR_EPROTO;
        }
        *out = p[0]; /* positive fixint */
        *pos += 1;
        return 0;
    }
    if (left < width) {
        return TR_EPROTO;
    }
    uint64_t v = width == 1   ? p[1]
                 : width == 2 ? load_be16(p + 1)
                 : width == 4 ? load_be32(p + 1)
                              : load_be64(p + 1);
    if (p[0] >= 0xd0 && (v >> (width * 8 - 1)) != 0) {
        return TR_EPROTO; /* a signed format holding a negative value */
    }
    *out = v;
    *pos += 1 + width;
    return 0;
}

int tr_bench_unpack_uint(const uint8_t *body, size_t len, uint64_t *out) {
    size_t pos = 0;
    int rc = read_uint(body, len, &pos, out);
    if (rc != 0 || pos != len) {
        return TR_EPROTO;
    }
    return 0;
}

int tr_bench_unpack_addr(const uint8_t *body, size_t len, tr_addr *out) {
    if (len < 1 || body[0] != 0x92) { /* fixarray of 2 */
        return TR_EPROTO;
    }
    size_t pos = 1;
    uint64_t node, actor;
    if (read_uint(body, len, &pos, &node) != 0 || read_uint(body, len, &pos, &actor) != 0 ||
        pos != len || node > UINT32_MAX) {
        return TR_EPROTO;
    }
    *out = (tr_addr){(uint32_t)node, 0, actor};
    return 0;
}

int tr_bench_msg_uint(const tr_msg *msg, uint64_t *out) {
    return tr_bench_unpack_uint(msg->body, msg->body_len, out);
}
