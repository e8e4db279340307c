#include <criterion/criterion.h>
#include <string.h>

#include "cluster/frame.h"

/* Feeds bytes into the reader in pieces of `step` bytes, collecting frames. */
static int feed(tr_frame_reader *r, const uint8_t *data, size_t len, size_t step, size_t *frames,
                size_t *bytes) {
    size_t off = 0;
    while (off < len) {
        uint8_t *dst;
        size_t avail;
        cr_assert_eq(tr__frame_reader_space(r, &dst, &avail), 0);
        size_t n = len - off < step ? len - off : step;
        n = n < avail ? n : avail;
        memcpy(dst, data + off, n);
        tr__frame_reader_commit(r, n);
        off += n;
        const uint8_t *p;
        size_t plen;
        int rc;
        while ((rc = tr__frame_reader_next(r, &p, &plen)) == 1) {
            for (size_t i = 0; i < plen; i++) {
                cr_assert_eq(p[i], (uint8_t)(plen + i), "byte %zu of a %zu frame", i, plen);
            }
            (*frames)++;
            *bytes += plen;
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static size_t put_frame(uint8_t *buf, size_t len) {
    tr_store_be32(buf, (uint32_t)len);
    for (size_t i = 0; i < len; i++) {
        buf[4 + i] = (uint8_t)(len + i);
    }
    return 4 + len;
}

Test(frame, reader_reassembles_frames_split_at_every_byte) {
    static uint8_t stream[400000];
    size_t sizes[] = {1, 7, 300, 65536, 70000, 200000, 3};
    size_t n = 0, total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        n += put_frame(stream + n, sizes[i]);
        total += sizes[i];
    }
    size_t steps[] = {1, 3, 4096, 65536, 1 << 20};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        tr_frame_reader r;
        cr_assert_eq(tr__frame_reader_init(&r, TR_FRAME_MAX_DEFAULT), 0);
        size_t frames = 0, bytes = 0;
        cr_assert_eq(feed(&r, stream, n, steps[s], &frames, &bytes), 0);
        cr_assert_eq(frames, 7);
        cr_assert_eq(bytes, total);
        cr_assert_leq(r.cap, 200004, "buffer grew past the biggest frame");
        tr__frame_reader_deinit(&r);
    }
}

Test(frame, reader_refuses_length_over_limit_before_buffering) {
    tr_frame_reader r;
    cr_assert_eq(tr__frame_reader_init(&r, 8192), 0);
    uint8_t hdr[4];
    tr_store_be32(hdr, 8193);
    size_t frames = 0, bytes = 0;
    cr_assert_eq(feed(&r, hdr, 4, 4, &frames, &bytes), TR_ETOOBIG);
    cr_assert_eq(r.cap, 64 << 10, "no growth for a refused frame");
    tr__frame_reader_deinit(&r);
    /* exactly at the limit is fine */
    static uint8_t big[8192 + 4];
    cr_assert_eq(tr__frame_reader_init(&r, 8192), 0);
    size_t n = put_frame(big, 8192);
    cr_assert_eq(feed(&r, big, n, 1000, &frames, &bytes), 0);
    cr_assert_eq(frames, 1);
    tr__frame_reader_deinit(&r);
}

Test(frame, reader_refuses_zero_length_and_huge_length) {
    tr_frame_reader r;
    cr_assert_eq(tr__frame_reader_init(&r, TR_FRAME_MAX_DEFAULT), 0);
    uint8_t z[4] = {0, 0, 0, 0};
    size_t frames = 0, bytes = 0;
    cr_assert_eq(feed(&r, z, 4, 4, &frames, &bytes), TR_EPROTO);
    tr__frame_reader_deinit(&r);
    cr_assert_eq(tr__frame_reader_init(&r, TR_FRAME_MAX_DEFAULT), 0);
    uint8_t ff[4] = {0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(feed(&r, ff, 4, 4, &frames, &bytes), TR_ETOOBIG);
    tr__frame_reader_deinit(&r);
}

Test(frame, writer_and_reader_round_trip_every_width) {
    uint8_t buf[300000];
    static char big[70000];
    memset(big, 'x', sizeof big);
    uint64_t ints[] = {0,         127, 128, 255, 256, 65535, 65536, 0xffffffffu, 0x100000000ull,
                       UINT64_MAX};
    tr_mp_writer w;
    tr__frame_begin(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 14);
    for (size_t i = 0; i < 10; i++) {
        tr_mp_write_uint(&w, ints[i]);
    }
    tr_mp_write_str(&w, big, 31);
    tr_mp_write_str(&w, big, 300);
    tr_mp_write_bin(&w, big, sizeof big);
    tr_mp_write_str(&w, big, sizeof big);
    long n = tr__frame_end(&w);
    cr_assert_gt(n, 0);
    cr_assert_eq(tr_load_be32(buf), (uint32_t)n - 4);
    tr_mp_reader r;
    tr_mp_reader_init(&r, buf + 4, (size_t)n - 4);
    uint32_t cnt;
    cr_assert_eq(tr_mp_read_array(&r, &cnt), 0);
    cr_assert_eq(cnt, 14);
    for (size_t i = 0; i < 10; i++) {
        uint64_t v;
        cr_assert_eq(tr_mp_read_uint(&r, &v), 0);
        cr_assert_eq(v, ints[i]);
    }
    const char *s;
    const uint8_t *b;
    uint32_t len;
    cr_assert_eq(tr_mp_read_str(&r, &s, &len), 0);
    cr_assert_eq(len, 31);
    cr_assert_eq(tr_mp_read_str(&r, &s, &len), 0);
    cr_assert_eq(len, 300);
    cr_assert_eq(tr_mp_read_bin(&r, &b, &len), 0);
    cr_assert_eq(len, sizeof big);
    cr_assert_eq(tr_mp_read_str(&r, &s, &len), 0);
    cr_assert_eq(len, sizeof big);
    cr_assert_eq(tr_mp_reader_done(&r), 0);
}

Test(frame, writer_reports_overflow) {
    uint8_t buf[16];
    tr_mp_writer w;
    tr__frame_begin(&w, buf, sizeof buf);
    tr_mp_write_str(&w, "0123456789abcdef", 16);
    cr_assert_eq(tr__frame_end(&w), TR_ETOOBIG);
}

Test(frame, reader_refuses_lying_headers_and_truncation) {
    /* array32 announcing 4 billion elements in a 6-byte payload */
    uint8_t lie[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    tr_mp_reader r;
    uint32_t n;
    tr_mp_reader_init(&r, lie, sizeof lie);
    cr_assert_eq(tr_mp_read_array(&r, &n), TR_EPROTO);
    /* str32 announcing more bytes than remain */
    uint8_t str[] = {0xdb, 0x00, 0x01, 0x00, 0x00, 'a'};
    const char *s;
    tr_mp_reader_init(&r, str, sizeof str);
    cr_assert_eq(tr_mp_read_str(&r, &s, &n), TR_EPROTO);
    /* truncated uint64 */
    uint8_t u[] = {0xcf, 1, 2, 3};
    uint64_t v;
    tr_mp_reader_init(&r, u, sizeof u);
    cr_assert_eq(tr_mp_read_uint(&r, &v), TR_EPROTO);
    /* wrong type */
    uint8_t m[] = {0x80};
    tr_mp_reader_init(&r, m, sizeof m);
    cr_assert_eq(tr_mp_read_uint(&r, &v), TR_EPROTO);
    /* string copy refuses embedded NUL and overlong */
    uint8_t nul[] = {0xa3, 'a', 0, 'b'};
    char out[8];
    tr_mp_reader_init(&r, nul, sizeof nul);
    cr_assert_eq(tr_mp_read_str_copy(&r, out, sizeof out), TR_EPROTO);
    uint8_t lng[] = {0xa8, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    tr_mp_reader_init(&r, lng, sizeof lng);
    cr_assert_eq(tr_mp_read_str_copy(&r, out, sizeof out), TR_EPROTO);
}

Test(frame, kind_reads_the_first_element) {
    uint8_t env[] = {0x9a, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xc4, 0};
    uint32_t count;
    cr_assert_eq(tr__frame_kind(env, sizeof env, &count), TR_FRAME_ENVELOPE);
    cr_assert_eq(count, 10);
    uint8_t hb[] = {0x92, 18, 0x05};
    cr_assert_eq(tr__frame_kind(hb, sizeof hb, &count), TR_FRAME_HEARTBEAT);
    uint8_t notarr[] = {0x81, 0x01, 0x01};
    cr_assert_eq(tr__frame_kind(notarr, sizeof notarr, &count), TR_EPROTO);
    uint8_t empty[] = {0x90};
    cr_assert_eq(tr__frame_kind(empty, sizeof empty, &count), TR_EPROTO);
    uint8_t neg[] = {0x91, 0xff};
    cr_assert_eq(tr__frame_kind(neg, sizeof neg, &count), TR_EPROTO);
}
