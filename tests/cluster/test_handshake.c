#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cluster/frame.h"
#include "cluster/handshake.h"

static const uint8_t secret[] = "0123456789abcdef-secret";
static const uint8_t other[] = "0123456789abcdef-OTHER!";

static tr_hello hello(const char *name, uint32_t id, const char *cluster) {
    tr_hello h;
    memset(&h, 0, sizeof h);
    snprintf(h.cluster, sizeof h.cluster, "%s", cluster);
    snprintf(h.name, sizeof h.name, "%s", name);
    snprintf(h.listen, sizeof h.listen, "127.0.0.1:%u", 7400 + id);
    h.id = id;
    h.incarnation = 42 + id;
    return h;
}

/* Runs both sides to completion; returns the result code of each side. */
static void run(tr_handshake *a, tr_handshake *b, int *rc_a, int *rc_b) {
    uint8_t out[TR_HS_OUT_MAX], out2[TR_HS_OUT_MAX];
    size_t n, n2;
    *rc_a = *rc_b = 0;
    tr_hello ha = hello("n1", 1, "c"), hb = hello("n2", 2, "c");
    (void)ha;
    (void)hb;
    tr_handshake *sides[2] = {a, b};
    int *rcs[2] = {rc_a, rc_b};
    /* a is the initiator: it starts, then frames ping-pong. */
    cr_assert_eq(
        tr__handshake_start(a, true, &a->mine, a->secret, a->secret_len, out, sizeof out, &n), 0);
    cr_assert_eq(
        tr__handshake_start(b, false, &b->mine, b->secret, b->secret_len, out2, sizeof out2, &n2),
        0);
    cr_assert_eq(n2, 0);
    int turn = 1;
    while (n > 0) {
        tr_handshake *s = sides[turn];
        /* strip the length prefix, as the transport's frame reader does */
        cr_assert_eq(tr_load_be32(out), n - 4);
        int rc = tr__handshake_step(s, out + 4, n - 4, out2, sizeof out2, &n2);
        *rcs[turn] = rc;
        memcpy(out, out2, n2);
        n = n2;
        if (rc < 0) {
            break;
        }
        turn ^= 1;
    }
}

static void setup(tr_handshake *a, tr_handshake *b, const uint8_t *sa, const uint8_t *sb,
                  const char *ca, const char *cb) {
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->mine = hello("n1", 1, ca);
    b->mine = hello("n2", 2, cb);
    a->secret = sa;
    a->secret_len = sizeof secret - 1;
    b->secret = sb;
    b->secret_len = sizeof secret - 1;
}

Test(handshake, same_secret_authenticates_both_sides) {
    tr_handshake a, b;
    int ra, rb;
    setup(&a, &b, secret, secret, "c", "c");
    run(&a, &b, &ra, &rb);
    cr_assert_eq(rb, 1);
    cr_assert_eq(ra, 1);
    cr_assert_str_eq(a.theirs.name, "n2");
    cr_assert_eq(a.theirs.id, 2);
    cr_assert_str_eq(b.theirs.name, "n1");
    cr_assert_str_eq(b.theirs.listen, "127.0.0.1:7401");
    cr_assert_eq(b.theirs.incarnation, 43);
    cr_assert_neq(memcmp(a.mine.nonce, b.mine.nonce, TR_NONCE_LEN), 0);
}

Test(handshake, wrong_secret_is_refused_by_the_acceptor_first) {
    tr_handshake a, b;
    int ra, rb;
    setup(&a, &b, other, secret, "c", "c");
    run(&a, &b, &ra, &rb);
    cr_assert_eq(rb, TR_EAUTH, "acceptor: %d", rb);
    cr_assert_eq(ra, 0, "initiator never got a server proof");
    cr_assert(strstr(b.reason, "bad MAC"));
}

Test(handshake, other_cluster_or_version_is_refused) {
    tr_handshake a, b;
    int ra, rb;
    setup(&a, &b, secret, secret, "blue", "green");
    run(&a, &b, &ra, &rb);
    cr_assert_eq(rb, TR_EINVAL);
    cr_assert(strstr(b.reason, "cluster"));
    /* a version mismatch: hand-craft a HELLO with proto 99 */
    tr_hello h = hello("n9", 9, "c");
    h.proto = 99;
    uint8_t buf[TR_HS_OUT_MAX], out[TR_HS_OUT_MAX];
    size_t n;
    long len = tr__handshake_hello_encode(&h, buf, sizeof buf);
    cr_assert_gt(len, 0);
    cr_assert_eq(tr__handshake_start(&b, false, &b.mine, secret, 16, out, sizeof out, &n), 0);
    cr_assert_eq(tr__handshake_step(&b, buf + 4, (size_t)len - 4, out, sizeof out, &n),
                 TR_EVERSION);
}

Test(handshake, frames_other_than_hello_are_refused_before_auth) {
    tr_handshake b;
    tr_hello mine = hello("n2", 2, "c");
    uint8_t out[TR_HS_OUT_MAX];
    size_t n;
    uint8_t env[] = {0x9a, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xc4, 0};
    cr_assert_eq(tr__handshake_start(&b, false, &mine, secret, 16, out, sizeof out, &n), 0);
    cr_assert_eq(tr__handshake_step(&b, env, sizeof env, out, sizeof out, &n), TR_EPROTO);
    cr_assert(strstr(b.reason, "before authentication"), "%s", b.reason);
    /* an AUTH before HELLO */
    uint8_t mac[TR_MAC_LEN] = {0};
    uint8_t auth[64];
    long len = tr__handshake_auth_encode(mac, auth, sizeof auth);
    cr_assert_eq(tr__handshake_start(&b, false, &mine, secret, 16, out, sizeof out, &n), 0);
    cr_assert_eq(tr__handshake_step(&b, auth + 4, (size_t)len - 4, out, sizeof out, &n), TR_EPROTO);
    /* garbage */
    uint8_t junk[] = {0xc1, 0xc1, 0xc1};
    cr_assert_eq(tr__handshake_start(&b, false, &mine, secret, 16, out, sizeof out, &n), 0);
    cr_assert_eq(tr__handshake_step(&b, junk, sizeof junk, out, sizeof out, &n), TR_EPROTO);
}

Test(handshake, mac_binds_names_nonces_and_role) {
    tr_hello i = hello("n1", 1, "c"), a = hello("n2", 2, "c");
    uint8_t m0[TR_MAC_LEN], m1[TR_MAC_LEN];
    cr_assert_eq(tr__handshake_mac(secret, 16, 'I', &i, &a, m0), 0);
    cr_assert_eq(tr__handshake_mac(secret, 16, 'A', &i, &a, m1), 0);
    cr_assert_neq(memcmp(m0, m1, TR_MAC_LEN), 0, "role must change the MAC");
    tr_hello i2 = i;
    i2.nonce[5] ^= 1;
    cr_assert_eq(tr__handshake_mac(secret, 16, 'I', &i2, &a, m1), 0);
    cr_assert_neq(memcmp(m0, m1, TR_MAC_LEN), 0, "nonce must change the MAC");
    tr_hello a2 = a;
    snprintf(a2.name, sizeof a2.name, "n3");
    cr_assert_eq(tr__handshake_mac(secret, 16, 'I', &i, &a2, m1), 0);
    cr_assert_neq(memcmp(m0, m1, TR_MAC_LEN), 0, "names must change the MAC");
    cr_assert_eq(tr__handshake_mac(secret, 16, 'I', &i, &a, m1), 0);
    cr_assert_eq(memcmp(m0, m1, TR_MAC_LEN), 0, "deterministic");
}

Test(handshake, hello_decode_refuses_truncation_and_bad_nonce) {
    tr_hello h = hello("n1", 1, "c"), out;
    uint8_t buf[TR_HS_OUT_MAX];
    long len = tr__handshake_hello_encode(&h, buf, sizeof buf);
    cr_assert_eq(tr__handshake_hello_decode(buf + 4, (size_t)len - 4, &out), 0);
    for (long cut = 0; cut < len - 4; cut++) {
        cr_assert_eq(tr__handshake_hello_decode(buf + 4, (size_t)cut, &out), TR_EPROTO, "cut %ld",
                     cut);
    }
    h.id = 0;
    len = tr__handshake_hello_encode(&h, buf, sizeof buf);
    cr_assert_eq(tr__handshake_hello_decode(buf + 4, (size_t)len - 4, &out), TR_EPROTO, "id 0");
}
