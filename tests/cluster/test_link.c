/* test_link.c — proto/link.h, the connection state machine both drivers run: two links
 * back to back, bytes delivered one at a time (the worst partial reads), the rules of
 * link.h enforced without a socket. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/link.h"

static const uint8_t secret[] = "0123456789abcdef0123456789abcdef";
static tr_gossip_entry gossip_a[TR_MEMBERS_MAX], gossip_b[TR_MEMBERS_MAX];

static tr_hello hello(const char *name, uint32_t id, uint32_t flags) {
    tr_hello h;
    memset(&h, 0, sizeof h);
    snprintf(h.cluster, sizeof h.cluster, "c");
    snprintf(h.name, sizeof h.name, "%s", name);
    snprintf(h.listen, sizeof h.listen, "%s:1", name);
    h.id = id;
    h.flags = flags;
    h.incarnation = 1;
    return h;
}

/* Moves `to`'s pending output (out) into `from` byte by byte, collecting events. Returns the
 * last event kind other than NEED_BYTES/WRITE, and forwards handshake replies to `back`. */
static tr_link_event_kind feed_bytes(tr_proto_link *l, const uint8_t *p, size_t n,
                                     tr_proto_link *back, tr_link_event *last) {
    tr_link_event_kind seen = TR_LINK_NEED_BYTES;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(tr__proto_link_feed(l, p + i, 1), 0);
        for (;;) {
            tr_link_event ev;
            tr_link_event_kind k = tr__proto_link_next(l, &ev);
            if (l->out_len > 0) {
                uint8_t copy[TR_HS_OUT_MAX];
                size_t len = l->out_len;
                memcpy(copy, l->out, len);
                feed_bytes(back, copy, len, l, last);
            }
            if (k == TR_LINK_NEED_BYTES) {
                break;
            }
            if (k != TR_LINK_WRITE) {
                seen = k;
                *last = ev;
            }
            if (k == TR_LINK_ERROR || k == TR_LINK_BYE || l->dead) {
                return seen;
            }
        }
    }
    return seen;
}

static void connect_pair(tr_proto_link *a, tr_proto_link *b, uint32_t b_flags) {
    cr_assert_eq(tr__proto_link_init(a, TR_FRAME_MAX_DEFAULT, gossip_a), 0);
    cr_assert_eq(tr__proto_link_init(b, TR_FRAME_MAX_DEFAULT, gossip_b), 0);
    uint8_t na[TR_NONCE_LEN] = {1}, nb[TR_NONCE_LEN] = {2};
    tr_hello ha = hello("a", 1, 0), hb = hello("b", 2, b_flags);
    cr_assert_eq(tr__proto_link_start(b, false, &hb, secret, 32, nb), 0);
    cr_assert_eq(b->out_len, 0, "an acceptor speaks second");
    cr_assert_eq(tr__proto_link_start(a, true, &ha, secret, 32, na), 0);
    uint8_t first[TR_HS_OUT_MAX];
    size_t n = a->out_len;
    memcpy(first, a->out, n);
    tr_link_event last;
    feed_bytes(b, first, n, a, &last);
    cr_assert(a->handshake_done && b->handshake_done);
    cr_assert_str_eq(a->hs.theirs.name, "b");
    cr_assert_str_eq(b->hs.theirs.name, "a");
}

Test(link, handshake_completes_over_one_byte_reads) {
    tr_proto_link a, b;
    connect_pair(&a, &b, 0);
    uint8_t hb[32];
    long n = tr__proto_heartbeat_frame(42, hb, sizeof hb);
    tr_link_event ev;
    cr_assert_eq(feed_bytes(&b, hb, (size_t)n, &a, &ev), TR_LINK_HEARTBEAT);
    cr_assert_eq(ev.seq, 42);
    tr__proto_link_deinit(&a);
    tr__proto_link_deinit(&b);
}

Test(link, nothing_but_the_handshake_before_authentication) {
    tr_proto_link b;
    cr_assert_eq(tr__proto_link_init(&b, TR_FRAME_MAX_DEFAULT, gossip_b), 0);
    tr_hello hb = hello("b", 2, 0);
    uint8_t nb[TR_NONCE_LEN] = {2};
    cr_assert_eq(tr__proto_link_start(&b, false, &hb, secret, 32, nb), 0);
    uint8_t frame[32];
    long n = tr__proto_heartbeat_frame(1, frame, sizeof frame);
    cr_assert_eq(tr__proto_link_feed(&b, frame, (size_t)n), 0);
    tr_link_event ev;
    cr_assert_eq(tr__proto_link_next(&b, &ev), TR_LINK_ERROR);
    cr_assert(strstr(b.reason, "handshake failed"), "%s", b.reason);
    tr__proto_link_deinit(&b);
}

Test(link, a_clients_gossip_entries_are_dropped_a_members_kept) {
    tr_gossip_entry fake = {"mallory", 9, "evil:1", 1};
    uint8_t frame[256];
    long n = tr__gossip_encode(&fake, 1, frame, sizeof frame);
    for (int client = 0; client <= 1; client++) {
        tr_proto_link a, b;
        connect_pair(&a, &b, client ? TR_HELLO_CLIENT : 0);
        tr_link_event ev;
        /* b (a client or a member) gossips to a */
        cr_assert_eq(feed_bytes(&a, frame, (size_t)n, &b, &ev), TR_LINK_GOSSIP);
        cr_assert_eq(ev.gossip_count, client ? 0 : 1);
        tr__proto_link_deinit(&a);
        tr__proto_link_deinit(&b);
    }
}

Test(link, malformed_control_frames_are_errors) {
    static const uint8_t bad[][8] = {
        {0, 0, 0, 3, 0x92, 18, 0xc0},      /* HEARTBEAT with nil */
        {0, 0, 0, 3, 0x93, 18, 1},         /* HEARTBEAT, array of 3 with 2 */
        {0, 0, 0, 3, 0x92, 42, 0},         /* unknown kind */
        {0, 0, 0, 4, 0x92, 18, 1, 0xc0},   /* HEARTBEAT, then a byte after it */
        {0, 0, 0, 4, 0x92, 20, 0xa1, 'x'}, /* BYE ok: a reason "x" */
    };
    for (size_t i = 0; i < 5; i++) {
        tr_proto_link a, b;
        connect_pair(&a, &b, 0);
        tr_link_event ev;
        size_t len = 4 + bad[i][3];
        tr_link_event_kind k = feed_bytes(&a, bad[i], len, &b, &ev);
        cr_assert_eq(k, i < 4 ? TR_LINK_ERROR : TR_LINK_BYE, "case %zu: %d", i, k);
        tr__proto_link_deinit(&a);
        tr__proto_link_deinit(&b);
    }
}

Test(link, admission_refuses_self_id_clash_and_name_clash) {
    char why[160];
    tr_hello h = hello("n2", 2, 0);
    cr_assert_eq(tr__proto_admit(&h, 2, NULL, 0, why, sizeof why), TR_EINVAL);
    cr_assert(strstr(why, "ourselves"));
    cr_assert_eq(tr__proto_admit(&h, 1, "other", 0, why, sizeof why), TR_EINVAL);
    cr_assert(strstr(why, "known as 'other'"), "%s", why);
    cr_assert_eq(tr__proto_admit(&h, 1, NULL, 3, why, sizeof why), TR_EINVAL);
    cr_assert(strstr(why, "already used by id 3"), "%s", why);
    cr_assert_eq(tr__proto_admit(&h, 1, "n2", 0, why, sizeof why), 0);
    cr_assert_eq(tr__proto_admit(&h, 1, NULL, 0, why, sizeof why), 0);
}
