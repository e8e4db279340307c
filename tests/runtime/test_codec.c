/* The envelope codec and the msgpack validator (runtime/codec.h): round trips, hostile
 * input, and deterministic mutation fuzzing. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime/codec.h"
#include "runtime/engine.h"
#include "runtime/internal.h"
#include "troupe.h"

/* ---- Helpers ----------------------------------------------------------------------------- */

/* A trace context made from one value (all zero for 0): id, span and flags all vary. */
static void set_trace(tr_msg *m, uint64_t v) {
    memset(&m->trace, 0, sizeof m->trace);
    if (v != 0) {
        memcpy(m->trace.id, &v, 8);
        uint64_t w = ~v;
        memcpy(m->trace.id + 8, &w, 8);
        memcpy(m->trace.span, &w, 8);
        m->trace.flags = (uint8_t)v;
    }
}

/* A tr_msg on the stack pointing at a caller's body (encode only reads it). */
static tr_msg make_msg(const void *body, uint32_t body_len) {
    tr_msg m;
    memset(&m, 0, sizeof m);
    m.type = 0xfffffffeu;
    m.from = (tr_addr){.node = 7, .actor = 0x123456789abcdef0ull};
    m.to = (tr_addr){.node = 0xffffffffu, .actor = UINT64_MAX};
    m.corr = 0x8000000000000001ull;
    set_trace(&m, 42);
    m.deadline_ = 1500; /* with no clock (NULL): 1500 ms left */
    m.body = body;
    m.body_len = body_len;
    return m;
}

/* Encodes m into a malloc'd buffer of exactly tr__envelope_size bytes. */
static uint8_t *encode(const tr_msg *m, const char *name, size_t *len) {
    size_t cap = tr__envelope_size(m, name, NULL);
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    cr_assert_eq(tr__envelope_encode(m, name, NULL, buf, cap, len), 0);
    cr_assert_eq(*len, cap, "tr__envelope_size must be exact: %zu vs %zu", *len, cap);
    return buf;
}

static void assert_same(const tr_msg *a, const tr_msg *b) {
    cr_assert_eq(a->type, b->type);
    cr_assert(tr_addr_eq(a->from, b->from));
    cr_assert(tr_addr_eq(a->to, b->to));
    cr_assert_eq(a->corr, b->corr);
    cr_assert_eq(memcmp(&a->trace, &b->trace, sizeof a->trace), 0);
    cr_assert_eq(a->deadline_, b->deadline_);
    cr_assert_eq(a->flags_, b->flags_);
    cr_assert_eq(a->body_len, b->body_len);
    if (a->body_len > 0) {
        cr_assert_eq(memcmp(a->body, b->body, a->body_len), 0);
    }
}

static void round_trip(const tr_msg *m, const char *name) {
    size_t len;
    uint8_t *buf = encode(m, name, &len);
    tr_msg *got = NULL;
    char got_name[TR_NAME_MAX + 1];
    cr_assert_eq(tr__envelope_decode(buf, len, NULL, &got, got_name), 0);
    cr_assert_not_null(got);
    assert_same(m, got);
    cr_assert_str_eq(got_name, name ? name : "");
    tr__pool_release(got);
    free(buf);
}

/* Decodes bytes that must be refused; asserts nothing was returned. */
static int decode_rc(const uint8_t *buf, size_t len) {
    tr_msg *got = NULL;
    char name[TR_NAME_MAX + 1];
    memset(name, 'x', sizeof name);
    int rc = tr__envelope_decode(buf, len, NULL, &got, name);
    if (rc == 0) {
        tr__pool_release(got);
    } else {
        cr_assert_null(got, "a refused decode must not return a message");
        cr_assert_eq(name[0], '\0');
    }
    return rc;
}

/* A hand-assembled envelope: header + version + scalars, then caller-chosen tail. */
typedef struct builder {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} builder;

static void builder_init(builder *b) {
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void builder_scalars(builder *b, size_t count, uint64_t version) {
    msgpack_pack_array(&b->pk, count);
    msgpack_pack_uint64(&b->pk, version);
    for (int i = 0; i < 8; i++) { /* type .. corr, (trace nil), deadline, flags */
        msgpack_pack_uint64(&b->pk, (uint64_t)i + 1);
        if (i == 5) {
            msgpack_pack_nil(&b->pk);
        }
    }
}

/* Caps this process's address space near its current size, so that any allocation of
 * hundreds of MiB fails (and a decoder that tried one could not return TR_EPROTO). */
static void cap_address_space(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    unsigned long pages = 0;
    cr_assert_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64u << 20);
    struct rlimit rl = {.rlim_cur = limit, .rlim_max = limit};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
}

/* ---- Round trips ------------------------------------------------------------------------- */

Test(codec, round_trip_keeps_every_field_and_the_name) {
    const char body[] = "\x93\x01\x02\x03";
    tr_msg m = make_msg(body, 4);
    round_trip(&m, "inventory");
    round_trip(&m, NULL);
    m.flags_ = 1; /* the reply bit travels */
    round_trip(&m, NULL);
}

Test(codec, only_wire_flags_travel) {
    tr_msg m = make_msg("x", 1);
    m.flags_ = 0x80000000u | TR__F_REPLY; /* a node-local bit must not leave the node */
    size_t len;
    uint8_t *buf = encode(&m, NULL, &len);
    tr_msg *got = NULL;
    char name[TR_NAME_MAX + 1];
    cr_assert_eq(tr__envelope_decode(buf, len, NULL, &got, name), 0);
    cr_assert_eq(got->flags_, TR__F_REPLY);
    tr__pool_release(got);
    free(buf);
    /* A peer sending every bit gets only the known ones through. */
    builder b;
    builder_init(&b);
    msgpack_pack_array(&b.pk, 12);
    for (int i = 0; i < 7; i++) {
        msgpack_pack_uint64(&b.pk, 1);
    }
    msgpack_pack_nil(&b.pk);
    msgpack_pack_uint64(&b.pk, 1);
    msgpack_pack_uint32(&b.pk, UINT32_MAX);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_bin_with_body(&b.pk, "", 0);
    cr_assert_eq(tr__envelope_decode((const uint8_t *)b.sb.data, b.sb.size, NULL, &got, name), 0);
    cr_assert_eq(got->flags_, TR__F_REPLY);
    tr__pool_release(got);
    msgpack_sbuffer_destroy(&b.sb);
}

Test(codec, round_trip_small_and_zero_values) {
    tr_msg m;
    memset(&m, 0, sizeof m);
    round_trip(&m, NULL);
    m.type = 127;
    m.from.node = 128;
    m.to.actor = 0x10000;
    m.corr = 0xffffffffull + 1;
    round_trip(&m, "");
}

Test(codec, round_trip_name_of_maximum_length) {
    char name[TR_NAME_MAX + 1];
    memset(name, 'n', TR_NAME_MAX);
    name[TR_NAME_MAX] = '\0';
    tr_msg m = make_msg("x", 1);
    round_trip(&m, name);
    cr_assert_leq(tr__envelope_size(&m, name, NULL) - m.body_len, TR_ENVELOPE_OVERHEAD_MAX);
}

Test(codec, overhead_of_the_largest_envelope_is_within_the_documented_bound) {
    char name[TR_NAME_MAX + 1];
    memset(name, 'n', TR_NAME_MAX);
    name[TR_NAME_MAX] = '\0';
    static uint8_t body[70000]; /* bin32: the longest body header */
    tr_msg m = make_msg(body, sizeof body);
    m.type = m.from.node = m.to.node = m.flags_ = UINT32_MAX;
    m.from.actor = m.to.actor = m.corr = UINT64_MAX;
    set_trace(&m, UINT64_MAX);
    m.deadline_ = UINT32_MAX;
    size_t len;
    uint8_t *buf = encode(&m, name, &len);
    cr_assert_leq(len - sizeof body, TR_ENVELOPE_OVERHEAD_MAX, "overhead %zu", len - sizeof body);
    free(buf);
}

Test(codec, encode_refuses_a_name_over_the_limit) {
    char name[TR_NAME_MAX + 2];
    memset(name, 'n', TR_NAME_MAX + 1);
    name[TR_NAME_MAX + 1] = '\0';
    tr_msg m = make_msg("x", 1);
    uint8_t buf[512];
    size_t len;
    cr_assert_eq(tr__envelope_encode(&m, name, NULL, buf, sizeof buf, &len), TR_EINVAL);
}

Test(codec, round_trip_empty_and_large_bodies) {
    tr_msg m = make_msg(NULL, 0);
    round_trip(&m, "a");
    size_t sizes[] = {1, 255, 256, 65535, 65536, 3u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *body = malloc(sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++) {
            body[j] = (uint8_t)(j * 31 + i);
        }
        m = make_msg(body, (uint32_t)sizes[i]);
        round_trip(&m, "orders@n2");
        free(body);
    }
}

/* Short bodies and names are copied inline (by 1, 4, 8 and 16 bytes, overlapping): every
 * length around those sizes, with no two bytes alike, and nothing written past the end. */
Test(codec, every_short_body_and_name_length_round_trips) {
    uint8_t body[48];
    for (size_t i = 0; i < sizeof body; i++) {
        body[i] = (uint8_t)(i * 5 + 1);
    }
    char name[TR_NAME_MAX + 1];
    for (size_t i = 0; i < TR_NAME_MAX; i++) {
        name[i] = (char)('!' + i);
    }
    for (uint32_t blen = 0; blen <= 40; blen++) {
        for (size_t nlen = 0; nlen <= TR_NAME_MAX; nlen += (nlen < 40 ? 1 : 23)) {
            name[nlen] = '\0';
            tr_msg m = make_msg(body, blen);
            round_trip(&m, name);
            size_t need = tr__envelope_size(&m, name, NULL), len = 0;
            uint8_t out[256];
            memset(out, 0xee, sizeof out);
            cr_assert_eq(tr__envelope_encode(&m, name, NULL, out, need, &len), 0);
            for (size_t i = need; i < sizeof out; i++) {
                cr_assert_eq(out[i], 0xee, "body %u name %zu: byte %zu written", blen, nlen, i);
            }
            name[nlen] = (char)('!' + nlen);
        }
    }
}

Test(codec, encode_refuses_every_short_buffer_without_writing_past_it) {
    tr_msg m = make_msg("hello", 5);
    size_t need = tr__envelope_size(&m, "inventory", NULL);
    uint8_t buf[256];
    cr_assert_lt(need, sizeof buf);
    for (size_t cap = 0; cap < need; cap++) {
        memset(buf, 0xee, sizeof buf);
        size_t len = 12345;
        cr_assert_eq(tr__envelope_encode(&m, "inventory", NULL, buf, cap, &len), TR_ETOOBIG);
        cr_assert_eq(len, 12345);
        for (size_t i = cap; i < sizeof buf; i++) {
            cr_assert_eq(buf[i], 0xee, "byte %zu written with cap %zu", i, cap);
        }
    }
}

Test(codec, encoding_is_the_documented_wire_form) {
    tr_msg m;
    memset(&m, 0, sizeof m);
    m.type = 300;
    m.from = (tr_addr){.node = 1, .actor = 2};
    m.to = (tr_addr){.node = 3, .actor = 4};
    m.corr = 5;
    m.deadline_ = 6; /* no clock: 6 ms left */
    m.body = (const uint8_t *)"\x07";
    m.body_len = 1;
    uint8_t buf[96];
    size_t len;
    cr_assert_eq(tr__envelope_encode(&m, "ab", NULL, buf, sizeof buf, &len), 0);
    const uint8_t want[] = {0x9c, 0x01, 0xcd, 0x01, 0x2c, 0x01, 0x02, 0x03, 0x04, 0x05,
                            0xc0, 0x06, 0x00, 0xa2, 'a',  'b',  0xc4, 0x01, 0x07};
    cr_assert_eq(len, sizeof want);
    cr_assert_eq(memcmp(buf, want, len), 0);
    /* A trace: bin8 of 25, the id, the parent span, the flags. */
    for (int i = 0; i < 16; i++) {
        m.trace.id[i] = (uint8_t)(0x10 + i);
    }
    for (int i = 0; i < 8; i++) {
        m.trace.span[i] = (uint8_t)(0x40 + i);
    }
    m.trace.flags = TR_TRACE_SAMPLED;
    m.deadline_ = 0;
    cr_assert_eq(tr__envelope_encode(&m, NULL, NULL, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 10 + 27 + 2 + 1 + 3);
    const uint8_t head[] = {0x9c, 0x01, 0xcd, 0x01, 0x2c, 0x01, 0x02, 0x03, 0x04, 0x05, 0xc4, 25};
    cr_assert_eq(memcmp(buf, head, sizeof head), 0);
    cr_assert_eq(memcmp(buf + 12, m.trace.id, 16), 0);
    cr_assert_eq(memcmp(buf + 28, m.trace.span, 8), 0);
    const uint8_t tail[] = {0x01, 0x00, 0x00, 0xc0, 0xc4, 0x01, 0x07};
    cr_assert_eq(memcmp(buf + 36, tail, sizeof tail), 0);
}

/* The reference: the envelope as msgpack-c's packer writes it (how codec.c encoded it before
 * it wrote the bytes itself). */
static void pack_reference(msgpack_sbuffer *sb, const tr_msg *m, const char *name) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 12);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_uint64(&pk, m->type);
    msgpack_pack_uint64(&pk, m->from.node);
    msgpack_pack_uint64(&pk, m->from.actor);
    msgpack_pack_uint64(&pk, m->to.node);
    msgpack_pack_uint64(&pk, m->to.actor);
    msgpack_pack_uint64(&pk, m->corr);
    if (tr_trace_is_set(&m->trace)) {
        uint8_t t[25];
        memcpy(t, m->trace.id, 16);
        memcpy(t + 16, m->trace.span, 8);
        t[24] = m->trace.flags;
        msgpack_pack_bin_with_body(&pk, t, sizeof t);
    } else {
        msgpack_pack_nil(&pk);
    }
    msgpack_pack_uint64(&pk, m->deadline_); /* no clock: the time left is deadline_ */
    msgpack_pack_uint64(&pk, m->flags_ & TR__F_REPLY);
    if (name != NULL) {
        msgpack_pack_str_with_body(&pk, name, strlen(name));
    } else {
        msgpack_pack_nil(&pk);
    }
    msgpack_pack_bin_with_body(&pk, m->body, m->body_len);
}

static uint64_t xorshift(uint64_t *s);

/* Every integer width boundary, every str/bin header boundary, random values in between. */
Test(codec, encoding_is_byte_for_byte_what_msgpack_c_packs) {
    static const uint64_t edges[] = {0,          1,           0x7f,           0x80,
                                     0xff,       0x100,       0xffff,         0x10000,
                                     0xffffffff, 0x100000000, UINT64_MAX - 1, UINT64_MAX};
    static uint8_t body[70000];
    static const uint32_t body_lens[] = {0, 1, 255, 256, 65535, 65536, 70000};
    char names[6][TR_NAME_MAX + 1];
    const size_t name_lens[] = {0, 1, 31, 32, TR_NAME_MAX};
    for (size_t i = 0; i < 5; i++) {
        memset(names[i], 'a' + (int)i, name_lens[i]);
        names[i][name_lens[i]] = '\0';
    }
    const size_t edge_count = sizeof edges / sizeof edges[0];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint8_t *buf = malloc(sizeof body + TR_ENVELOPE_OVERHEAD_MAX);
    cr_assert_not_null(buf);
    for (int i = 0; i < 20000; i++) {
        uint64_t v[8];
        for (int f = 0; f < 8; f++) {
            uint64_t r = xorshift(&seed);
            /* half edges, half random values of a random width */
            v[f] = (r & 1) ? edges[(r >> 1) % edge_count] : xorshift(&seed) >> (r >> 58);
        }
        tr_msg m;
        memset(&m, 0, sizeof m);
        m.type = (uint32_t)v[0];
        m.from = (tr_addr){.node = (uint32_t)v[1], .actor = v[2]};
        m.to = (tr_addr){.node = (uint32_t)v[3], .actor = v[4]};
        m.corr = v[5];
        set_trace(&m, v[6]);
        m.deadline_ = v[6] & UINT32_MAX;
        m.flags_ = (uint32_t)v[7];
        m.body = body;
        m.body_len = body_lens[(v[7] >> 3) % (i < 1000 ? 7 : 4)]; /* big ones sometimes */
        int which = (int)(xorshift(&seed) % 6);
        const char *name = which == 5 ? NULL : names[which];
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        pack_reference(&sb, &m, name);
        size_t len = 0;
        cr_assert_eq(tr__envelope_encode(&m, name, NULL, buf, sb.size, &len), 0, "iteration %d", i);
        cr_assert_eq(len, sb.size, "iteration %d", i);
        cr_assert_eq(memcmp(buf, sb.data, len), 0, "iteration %d: bytes differ", i);
        cr_assert_eq(tr__envelope_size(&m, name, NULL), len);
        msgpack_sbuffer_destroy(&sb);
    }
    free(buf);
}

/* ---- The validator ----------------------------------------------------------------------- */

Test(msgpack_check, accepts_every_kind_of_object) {
    builder b;
    builder_init(&b);
    msgpack_pack_map(&b.pk, 3);
    msgpack_pack_str_with_body(&b.pk, "k", 1);
    msgpack_pack_array(&b.pk, 8);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_true(&b.pk);
    msgpack_pack_int64(&b.pk, -5000000000ll);
    msgpack_pack_double(&b.pk, 1.5);
    msgpack_pack_float(&b.pk, 2.5f);
    msgpack_pack_ext_with_body(&b.pk, "abcd", 4, 7); /* fixext4 */
    msgpack_pack_ext_with_body(&b.pk, "abc", 3, 7);  /* ext8 */
    msgpack_pack_bin_with_body(&b.pk, "\0\1", 2);
    msgpack_pack_int(&b.pk, 1);
    msgpack_pack_map(&b.pk, 0);
    msgpack_pack_array(&b.pk, 0);
    char big[70000];
    memset(big, 'z', sizeof big);
    msgpack_pack_str_with_body(&b.pk, big, sizeof big); /* str32 */
    const uint8_t *p = (const uint8_t *)b.sb.data;
    cr_assert_eq(tr__msgpack_check(p, b.sb.size, TR_MSGPACK_DEPTH_MAX), 0);
    size_t used = 0;
    cr_assert_eq(tr__msgpack_check_prefix(p, b.sb.size, TR_MSGPACK_DEPTH_MAX, &used), 0);
    cr_assert_eq(used, b.sb.size);
    msgpack_sbuffer_destroy(&b.sb);
}

Test(msgpack_check, refuses_the_reserved_byte) {
    const uint8_t c1[] = {0xc1};
    cr_assert_eq(tr__msgpack_check(c1, 1, 32), TR_EPROTO);
    const uint8_t in_array[] = {0x92, 0x01, 0xc1};
    cr_assert_eq(tr__msgpack_check(in_array, sizeof in_array, 32), TR_EPROTO);
}

Test(msgpack_check, refuses_trailing_bytes_but_prefix_reports_the_length) {
    const uint8_t two[] = {0x92, 0x01, 0x02, 0x03};
    cr_assert_eq(tr__msgpack_check(two, sizeof two, 32), TR_EPROTO);
    size_t used = 0;
    cr_assert_eq(tr__msgpack_check_prefix(two, sizeof two, 32, &used), 0);
    cr_assert_eq(used, 3);
}

Test(msgpack_check, empty_input_is_incomplete) {
    size_t used = 0;
    cr_assert_eq(tr__msgpack_check(NULL, 0, 32), TR_EPROTO);
    cr_assert_eq(tr__msgpack_check_prefix(NULL, 0, 32, &used), TR_EAGAIN);
}

Test(msgpack_check, every_truncation_is_incomplete_or_malformed) {
    tr_msg m = make_msg("body bytes", 10);
    size_t len;
    uint8_t *buf = encode(&m, "inventory", &len);
    for (size_t cut = 0; cut < len; cut++) {
        size_t used = 0;
        cr_assert_eq(tr__msgpack_check_prefix(buf, cut, 32, &used), TR_EAGAIN, "cut %zu", cut);
        cr_assert_eq(tr__msgpack_check(buf, cut, 32), TR_EPROTO, "cut %zu", cut);
    }
    free(buf);
}

Test(msgpack_check, refuses_headers_announcing_more_than_remains) {
    const uint8_t array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01};
    const uint8_t str32[] = {0xdb, 0x80, 0x00, 0x00, 0x00, 'a', 'b'};
    const uint8_t bin32[] = {0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00};
    const uint8_t ext32[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t array16[] = {0xdc, 0x00, 0x03, 0x01, 0x02}; /* 3 elements, 2 bytes */
    const uint8_t map_half[] = {0x81, 0x01};                  /* a key without value */
    const uint8_t *cases[] = {array32, map32, str32, bin32, ext32, array16, map_half};
    size_t lens[] = {sizeof array32, sizeof map32,   sizeof str32,   sizeof bin32,
                     sizeof ext32,   sizeof array16, sizeof map_half};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t used;
        cr_assert_eq(tr__msgpack_check(cases[i], lens[i], 32), TR_EPROTO, "case %zu", i);
        cr_assert_eq(tr__msgpack_check_prefix(cases[i], lens[i], 32, &used), TR_EAGAIN);
    }
}

/* n nested arrays: [[[...[1]...]]] */
static uint8_t *nested(size_t n, size_t *len) {
    uint8_t *buf = malloc(n + 1);
    memset(buf, 0x91, n);
    buf[n] = 0x01;
    *len = n + 1;
    return buf;
}

Test(msgpack_check, nesting_at_the_limit_passes_and_one_deeper_fails) {
    size_t len;
    uint8_t *ok = nested(TR_MSGPACK_DEPTH_MAX, &len);
    cr_assert_eq(tr__msgpack_check(ok, len, TR_MSGPACK_DEPTH_MAX), 0);
    free(ok);
    uint8_t *deep = nested(TR_MSGPACK_DEPTH_MAX + 1, &len);
    cr_assert_eq(tr__msgpack_check(deep, len, TR_MSGPACK_DEPTH_MAX), TR_ETOOBIG);
    cr_assert_eq(decode_rc(deep, len), TR_EPROTO);
    free(deep);
    uint8_t *huge = nested(100000, &len); /* no recursion: the walker keeps a fixed stack */
    cr_assert_eq(tr__msgpack_check(huge, len, TR_MSGPACK_DEPTH_MAX), TR_ETOOBIG);
    free(huge);
}

/* msgpack-c's own unpacker must agree with whatever the validator accepts. */
Test(msgpack_check, what_it_accepts_msgpack_c_parses_to_the_end) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t buf[24];
    int accepted = 0;
    for (int i = 0; i < 200000; i++) {
        for (size_t j = 0; j < sizeof buf; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[j] = (uint8_t)x;
        }
        size_t len = 1 + (size_t)(x >> 40) % sizeof buf;
        if (tr__msgpack_check(buf, len, TR_MSGPACK_DEPTH_MAX) != 0) {
            continue;
        }
        accepted++;
        msgpack_zone zone;
        msgpack_zone_init(&zone, 256);
        msgpack_object obj;
        size_t off = 0;
        int rc = msgpack_unpack((const char *)buf, len, &off, &zone, &obj);
        cr_assert_eq(rc, MSGPACK_UNPACK_SUCCESS, "iteration %d", i);
        cr_assert_eq(off, len, "iteration %d", i);
        msgpack_zone_destroy(&zone);
    }
    cr_assert_gt(accepted, 1000, "the generator must produce valid objects too");
}

/* ---- Hostile envelopes ------------------------------------------------------------------- */

Test(codec, decode_refuses_lying_headers_without_a_huge_allocation) {
    cap_address_space();
    const uint8_t array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(decode_rc(array32, sizeof array32), TR_EPROTO);
    /* A real envelope whose body claims 2 GiB. */
    builder b;
    builder_init(&b);
    builder_scalars(&b, 12, 1);
    msgpack_pack_nil(&b.pk);
    const uint8_t bin32[] = {0xc6, 0x80, 0x00, 0x00, 0x00, 1, 2, 3};
    msgpack_sbuffer_write(&b.sb, (const char *)bin32, sizeof bin32);
    cr_assert_eq(decode_rc((const uint8_t *)b.sb.data, b.sb.size), TR_EPROTO);
    msgpack_sbuffer_destroy(&b.sb);
    /* ... and whose name claims 2 GiB. */
    builder_init(&b);
    builder_scalars(&b, 12, 1);
    const uint8_t str32[] = {0xdb, 0x80, 0x00, 0x00, 0x00, 'a', 0xc4, 0x00};
    msgpack_sbuffer_write(&b.sb, (const char *)str32, sizeof str32);
    cr_assert_eq(decode_rc((const uint8_t *)b.sb.data, b.sb.size), TR_EPROTO);
    msgpack_sbuffer_destroy(&b.sb);
}

Test(codec, decode_refuses_garbage_and_every_truncation) {
    const uint8_t garbage[] = "GET / HTTP/1.1\r\n\r\n";
    cr_assert_eq(decode_rc(garbage, sizeof garbage - 1), TR_EPROTO);
    cr_assert_eq(decode_rc(NULL, 0), TR_EPROTO);
    const uint8_t c1[] = {0x9a, 0xc1};
    cr_assert_eq(decode_rc(c1, sizeof c1), TR_EPROTO);
    const uint8_t scalar[] = {0x01};
    cr_assert_eq(decode_rc(scalar, 1), TR_EPROTO);
    tr_msg m = make_msg("payload", 7);
    size_t len;
    uint8_t *buf = encode(&m, "name", &len);
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_eq(decode_rc(buf, cut), TR_EPROTO, "cut at %zu", cut);
    }
    free(buf);
}

Test(codec, decode_refuses_trailing_bytes) {
    tr_msg m = make_msg("p", 1);
    size_t len;
    uint8_t *buf = encode(&m, NULL, &len);
    uint8_t *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0x00;
    cr_assert_eq(decode_rc(more, len + 1), TR_EPROTO);
    cr_assert_eq(decode_rc(buf, len), 0);
    free(more);
    free(buf);
}

Test(codec, decode_refuses_other_versions) {
    builder b;
    builder_init(&b);
    builder_scalars(&b, 12, 2);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_bin_with_body(&b.pk, "", 0);
    cr_assert_eq(decode_rc((const uint8_t *)b.sb.data, b.sb.size), TR_EVERSION);
    msgpack_sbuffer_destroy(&b.sb);
    /* A future version may have another field count: still a version error. */
    builder_init(&b);
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_uint64(&b.pk, 9);
    msgpack_pack_nil(&b.pk);
    cr_assert_eq(decode_rc((const uint8_t *)b.sb.data, b.sb.size), TR_EVERSION);
    msgpack_sbuffer_destroy(&b.sb);
    /* The version itself must be an unsigned integer. */
    builder_init(&b);
    msgpack_pack_array(&b.pk, 12);
    msgpack_pack_str_with_body(&b.pk, "1", 1);
    for (int i = 0; i < 11; i++) {
        msgpack_pack_nil(&b.pk);
    }
    cr_assert_eq(decode_rc((const uint8_t *)b.sb.data, b.sb.size), TR_EPROTO);
    msgpack_sbuffer_destroy(&b.sb);
}

typedef enum tail_kind {
    TAIL_OK,
    TAIL_NAME_TOO_LONG,
    TAIL_NAME_WITH_NUL,
    TAIL_NAME_AS_BIN,
    TAIL_BODY_AS_STR,
    TAIL_BODY_AS_NIL,
    TAIL_MISSING_BODY,
    TAIL_EXTRA_FIELD
} tail_kind;

static int decode_with_tail(tail_kind kind) {
    builder b;
    builder_init(&b);
    builder_scalars(&b, kind == TAIL_MISSING_BODY ? 11 : kind == TAIL_EXTRA_FIELD ? 13 : 12, 1);
    char long_name[TR_NAME_MAX + 1];
    memset(long_name, 'q', sizeof long_name);
    switch (kind) {
    case TAIL_NAME_TOO_LONG: msgpack_pack_str_with_body(&b.pk, long_name, TR_NAME_MAX + 1); break;
    case TAIL_NAME_WITH_NUL: msgpack_pack_str_with_body(&b.pk, "a\0b", 3); break;
    case TAIL_NAME_AS_BIN: msgpack_pack_bin_with_body(&b.pk, "ab", 2); break;
    default: msgpack_pack_str_with_body(&b.pk, "ab", 2); break;
    }
    switch (kind) {
    case TAIL_BODY_AS_STR: msgpack_pack_str_with_body(&b.pk, "x", 1); break;
    case TAIL_BODY_AS_NIL: msgpack_pack_nil(&b.pk); break;
    case TAIL_MISSING_BODY: break;
    default: msgpack_pack_bin_with_body(&b.pk, "x", 1); break;
    }
    if (kind == TAIL_EXTRA_FIELD) {
        msgpack_pack_nil(&b.pk);
    }
    int rc = decode_rc((const uint8_t *)b.sb.data, b.sb.size);
    msgpack_sbuffer_destroy(&b.sb);
    return rc;
}

Test(codec, decode_refuses_wrong_name_and_body_types) {
    cr_assert_eq(decode_with_tail(TAIL_OK), 0, "the builder itself must be right");
    cr_assert_eq(decode_with_tail(TAIL_NAME_TOO_LONG), TR_EPROTO);
    cr_assert_eq(decode_with_tail(TAIL_NAME_WITH_NUL), TR_EPROTO);
    cr_assert_eq(decode_with_tail(TAIL_NAME_AS_BIN), TR_EPROTO);
    cr_assert_eq(decode_with_tail(TAIL_BODY_AS_STR), TR_EPROTO);
    cr_assert_eq(decode_with_tail(TAIL_BODY_AS_NIL), TR_EPROTO);
    cr_assert_eq(decode_with_tail(TAIL_MISSING_BODY), TR_EPROTO);
    cr_assert_eq(decode_with_tail(TAIL_EXTRA_FIELD), TR_EPROTO);
}

/* Replaces scalar field `field` (1 = type .. 6 = corr, 7 = deadline, 8 = flags; the trace
 * between corr and deadline is nil) with the object packed by `bad`. */
static int decode_with_bad_scalar(int field, void (*bad)(msgpack_packer *)) {
    builder b;
    builder_init(&b);
    msgpack_pack_array(&b.pk, 12);
    msgpack_pack_uint64(&b.pk, 1);
    for (int i = 1; i <= 8; i++) {
        if (i == field) {
            bad(&b.pk);
        } else {
            msgpack_pack_uint64(&b.pk, (uint64_t)i);
        }
        if (i == 6) {
            msgpack_pack_nil(&b.pk);
        }
    }
    msgpack_pack_nil(&b.pk);
    msgpack_pack_bin_with_body(&b.pk, "", 0);
    int rc = decode_rc((const uint8_t *)b.sb.data, b.sb.size);
    msgpack_sbuffer_destroy(&b.sb);
    return rc;
}

static void pack_negative(msgpack_packer *pk) {
    msgpack_pack_int64(pk, -1);
}
static void pack_str(msgpack_packer *pk) {
    msgpack_pack_str_with_body(pk, "7", 1);
}
static void pack_float(msgpack_packer *pk) {
    msgpack_pack_double(pk, 7.0);
}
static void pack_nil(msgpack_packer *pk) {
    msgpack_pack_nil(pk);
}
static void pack_array(msgpack_packer *pk) {
    msgpack_pack_array(pk, 0);
}
static void pack_over_u32(msgpack_packer *pk) {
    msgpack_pack_uint64(pk, 1ull << 32);
}
static void pack_int8_negative(msgpack_packer *pk) {
    const char i8[] = {(char)0xd0, (char)0xff}; /* int8 -1, not the shortest form */
    pk->callback(pk->data, i8, sizeof i8);
}
static void pack_signed_positive(msgpack_packer *pk) {
    const char i16[] = {(char)0xd1, 0x01, 0x00}; /* int16 256: other encoders do this */
    pk->callback(pk->data, i16, sizeof i16);     /* raw bytes: msgpack-c would pick uint16 */
}

Test(codec, decode_refuses_wrong_scalar_types) {
    void (*bads[])(msgpack_packer *) = {pack_negative, pack_int8_negative, pack_str,
                                        pack_float,    pack_nil,           pack_array};
    for (int field = 1; field <= 8; field++) {
        for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
            cr_assert_eq(decode_with_bad_scalar(field, bads[i]), TR_EPROTO, "field %d bad %zu",
                         field, i);
        }
        cr_assert_eq(decode_with_bad_scalar(field, pack_signed_positive), 0, "field %d", field);
    }
    /* type, from_node, to_node, deadline and flags are 32-bit; actors and corr 64-bit. */
    int narrow[] = {1, 2, 4, 7, 8};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(decode_with_bad_scalar(narrow[i], pack_over_u32), TR_EPROTO);
    }
    cr_assert_eq(decode_with_bad_scalar(3, pack_over_u32), 0);
}

/* ---- The fast path agrees with the general reader ---------------------------------------- */

/* Decodes buf both ways; they must agree on the result code, every field, the name and the
 * body. Returns the code. */
static int decode_both(const uint8_t *buf, size_t len, const char *what, size_t at) {
    tr_msg *fast = NULL, *general = NULL;
    char fast_name[TR_NAME_MAX + 1], general_name[TR_NAME_MAX + 1];
    memset(fast_name, 'x', sizeof fast_name);
    memset(general_name, 'y', sizeof general_name);
    int rc = tr__envelope_decode(buf, len, NULL, &fast, fast_name);
    int grc = tr__envelope_decode_general(buf, len, NULL, &general, general_name);
    cr_assert_eq(rc, grc, "%s %zu: fast path %d, general reader %d", what, at, rc, grc);
    cr_assert_str_eq(fast_name, general_name, "%s %zu", what, at);
    if (rc == 0) {
        assert_same(fast, general);
    } else {
        cr_assert_null(fast);
    }
    tr__pool_release(fast);
    tr__pool_release(general);
    return rc;
}

/* Envelopes in the fast path's layout and next to it: every scalar width, nil / fixstr /
 * str8 names, bin8 / bin16 bodies. */
static uint8_t *fast_path_sample(int which, size_t *len) {
    static uint8_t body[300];
    for (size_t i = 0; i < sizeof body; i++) {
        body[i] = (uint8_t)(i * 7);
    }
    tr_msg m = make_msg(body, 5);
    const char *name = NULL;
    switch (which) {
    case 0: break; /* wide scalars, nil name, bin8 */
    case 1:
        memset(&m, 0, sizeof m); /* every scalar a fixint */
        m.body = body;
        name = "inventory@n2";
        break;
    case 2:
        m.type = 0x80; /* uint8, uint16, uint32 forms */
        m.from.node = 0x1234;
        m.to.node = 0x12345678;
        m.corr = 0xff;
        m.flags_ = TR__F_REPLY;
        m.body_len = 300;                         /* bin16 */
        name = "0123456789012345678901234567890"; /* the longest fixstr */
        break;
    case 3: name = "01234567890123456789012345678901"; break; /* str8: general path only */
    default:
        m.body_len = 0;
        name = "";
        break;
    }
    return encode(&m, name, len);
}

/* Every scalar as a uint64 (0xcf) of value 1: a one-byte change then reaches every value
 * width, e.g. a 32-bit field over UINT32_MAX. */
static uint8_t *wide_sample(size_t *len) {
    static const uint8_t tail[] = {0xc0, 0xc4, 0x01, 'z'};
    *len = 2 + 8 * 9 + 1 + sizeof tail;
    uint8_t *buf = malloc(*len), *p = buf;
    cr_assert_not_null(buf);
    *p++ = 0x9c;
    *p++ = 0x01;
    for (int i = 0; i < 8; i++) {
        *p++ = 0xcf;
        memset(p, 0, 7);
        p[7] = 1;
        p += 8;
        if (i == 5) {
            *p++ = 0xc0; /* no trace */
        }
    }
    memcpy(p, tail, sizeof tail);
    return buf;
}

Test(codec, fast_path_agrees_with_the_general_reader_on_every_cut_and_byte) {
    for (int which = 0; which < 6; which++) {
        size_t len;
        uint8_t *base = which == 5 ? wide_sample(&len) : fast_path_sample(which, &len);
        cr_assert_eq(decode_both(base, len, "intact", (size_t)which), 0);
        for (size_t cut = 0; cut < len; cut++) {
            cr_assert_eq(decode_both(base, cut, "cut at", cut), TR_EPROTO);
        }
        uint8_t *buf = malloc(len + 1);
        cr_assert_not_null(buf);
        memcpy(buf, base, len);
        buf[len] = 0xc0;
        cr_assert_eq(decode_both(buf, len + 1, "trailing byte", len), TR_EPROTO);
        for (size_t at = 0; at < len; at++) {
            for (int v = 0; v < 256; v++) {
                buf[at] = (uint8_t)v;
                decode_both(buf, len, "byte changed at", at);
            }
            buf[at] = base[at];
        }
        free(buf);
        free(base);
    }
}

/* Forms other encoders use, which the fast path leaves to the general reader. */
Test(codec, fast_path_leaves_foreign_forms_to_the_general_reader) {
    cr_assert_eq(decode_with_bad_scalar(3, pack_signed_positive), 0);
    cr_assert_eq(decode_with_tail(TAIL_OK), 0);
    builder b;
    builder_init(&b);
    msgpack_pack_array(&b.pk, 12);
    msgpack_pack_uint64(&b.pk, 1);
    for (int i = 0; i < 8; i++) {
        const char u64[] = {(char)0xcf, 0, 0, 0, 0, 0, 0, 0, (char)(i + 1)}; /* not minimal */
        b.pk.callback(b.pk.data, u64, sizeof u64);
        if (i == 5) {
            msgpack_pack_nil(&b.pk);
        }
    }
    const char tail[] = {(char)0xd9, 2, 'a', 'b', (char)0xc6, 0, 0, 0, 1, 'z'}; /* str8, bin32 */
    b.pk.callback(b.pk.data, tail, sizeof tail);
    tr_msg *got = NULL;
    char name[TR_NAME_MAX + 1];
    cr_assert_eq(decode_both((const uint8_t *)b.sb.data, b.sb.size, "foreign", 0), 0);
    cr_assert_eq(tr__envelope_decode((const uint8_t *)b.sb.data, b.sb.size, NULL, &got, name), 0);
    cr_assert_eq(got->type, 1);
    cr_assert_eq(got->flags_, 0); /* 8 has no wire meaning */
    cr_assert_str_eq(name, "ab");
    cr_assert_eq(got->body_len, 1);
    cr_assert_eq(got->body[0], 'z');
    tr__pool_release(got);
    msgpack_sbuffer_destroy(&b.sb);
}

/* ---- Fuzzing ----------------------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Applies 1..4 random edits to buf[0..*len) (capacity cap). */
static void mutate(uint64_t *seed, uint8_t *buf, size_t *len, size_t cap) {
    static const uint8_t interesting[] = {0x00, 0x7f, 0x80, 0x90, 0x9f, 0xc0, 0xc1, 0xc4, 0xc6,
                                          0xcf, 0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xdf, 0xff};
    int edits = 1 + (int)(xorshift(seed) % 4);
    for (int e = 0; e < edits && *len > 0; e++) {
        uint64_t r = xorshift(seed);
        size_t at = (size_t)(r >> 8) % *len;
        switch (r % 5) {
        case 0: buf[at] ^= (uint8_t)(1u << ((r >> 40) % 8)); break;
        case 1: buf[at] = interesting[(r >> 40) % sizeof interesting]; break;
        case 2: buf[at] = (uint8_t)(r >> 48); break;
        case 3: *len = at; break; /* truncate */
        default:                  /* insert a byte */
            if (*len < cap) {
                memmove(buf + at + 1, buf + at, *len - at);
                buf[at] = (uint8_t)(r >> 32);
                (*len)++;
            }
            break;
        }
    }
}

Test(codec, fuzzed_envelopes_decode_or_fail_cleanly) {
    uint8_t body[40];
    for (size_t i = 0; i < sizeof body; i++) {
        body[i] = (uint8_t)(0x90 + i);
    }
    tr_msg m = make_msg(body, sizeof body);
    size_t base_len;
    uint8_t *base = encode(&m, "inventory@n2", &base_len);
    uint8_t buf[256];
    uint64_t seed = 0x2545f4914f6cdd1dull;
    int decoded = 0, refused = 0;
    for (int i = 0; i < 100000; i++) {
        size_t len = base_len;
        memcpy(buf, base, base_len);
        mutate(&seed, buf, &len, sizeof buf);
        tr_msg *got = NULL;
        char name[TR_NAME_MAX + 1];
        int rc = tr__envelope_decode(buf, len, NULL, &got, name);
        int check = tr__msgpack_check(buf, len, TR_MSGPACK_DEPTH_MAX);
        decode_both(buf, len, "fuzz iteration", (size_t)i);
        if (rc != 0) {
            cr_assert(rc == TR_EPROTO || rc == TR_EVERSION, "iteration %d: rc %d", i, rc);
            cr_assert_null(got);
            refused++;
            continue;
        }
        decoded++;
        cr_assert_eq(check, 0, "decoded what the validator refused (iteration %d)", i);
        cr_assert_leq(got->body_len, len);
        cr_assert_leq(strlen(name), TR_NAME_MAX);
        /* Whatever decodes must re-encode and decode to the same message. */
        uint8_t again[256];
        size_t again_len;
        cr_assert_eq(
            tr__envelope_encode(got, name[0] ? name : NULL, NULL, again, sizeof again, &again_len),
            0);
        tr_msg *got2 = NULL;
        char name2[TR_NAME_MAX + 1];
        cr_assert_eq(tr__envelope_decode(again, again_len, NULL, &got2, name2), 0);
        assert_same(got, got2);
        cr_assert_str_eq(name, name2);
        tr__pool_release(got2);
        tr__pool_release(got);
    }
    free(base);
    cr_assert_gt(decoded, 100, "mutations that keep an envelope valid must decode");
    cr_assert_gt(refused, 10000, "most mutations must be refused");
}

/* The trace field is nil or a bin of exactly 25 bytes with a non-zero id: one encoding per
 * trace, so a zero id sent as a bin, a short or long bin, or a str are refused. */
Test(codec, decode_refuses_a_malformed_trace) {
    tr_msg m = make_msg("p", 1);
    size_t len;
    uint8_t *buf = encode(&m, NULL, &len);
    /* make_msg's scalars: 0x9c 0x01, type 5, from_node 1, from_actor 9, to_node 5, to_actor 9,
     * corr 9 bytes: the trace starts at 2 + 38. */
    size_t at = 2 + 5 + 1 + 9 + 5 + 9 + 9;
    cr_assert_eq(buf[at], 0xc4);
    cr_assert_eq(buf[at + 1], 25);
    cr_assert_eq(decode_both(buf, len, "intact", 0), 0);
    uint8_t *bad = malloc(len);
    memcpy(bad, buf, len);
    memset(bad + at + 2, 0, 16); /* an all-zero id in a bin */
    cr_assert_eq(decode_both(bad, len, "zero id", at), TR_EPROTO);
    memcpy(bad, buf, len);
    bad[at + 1] = 24; /* one byte short: the bin ends inside the trace */
    cr_assert_eq(decode_both(bad, len, "short bin", at), TR_EPROTO);
    memcpy(bad, buf, len);
    bad[at] = 0xd9; /* str8 instead of bin8 */
    cr_assert_eq(decode_both(bad, len, "str", at), TR_EPROTO);
    free(bad);
    free(buf);
}
