#include <criterion/criterion.h>
#include <string.h>

#include "cluster/frame.h"
#include "cluster/membership.h"

static const tr_fd_config cfg = {.suspect_ms = 500, .down_ms = 1000, .backoff_min_ms = 100,
                                 .backoff_max_ms = 1600};

Test(membership, silence_goes_suspect_then_down_and_a_frame_revives) {
    tr_fd fd;
    tr_fd_init(&fd, &cfg, 0);
    cr_assert_eq(tr_fd_tick(&fd, &cfg, 5000), TR_FD_SAME, "unlinked: no verdict");
    cr_assert_eq(tr_fd_link_up(&fd, &cfg, 10), TR_FD_UP);
    cr_assert_eq(tr_fd_tick(&fd, &cfg, 509), TR_FD_SAME);
    cr_assert_eq(tr_fd_tick(&fd, &cfg, 510), TR_FD_SUSPECT);
    cr_assert_eq(fd.status, TR_MEMBER_SUSPECT);
    cr_assert_eq(tr_fd_heard(&fd, 600), TR_FD_UP, "a frame clears suspicion");
    cr_assert_eq(tr_fd_tick(&fd, &cfg, 1599), TR_FD_SUSPECT);
    cr_assert_eq(tr_fd_tick(&fd, &cfg, 1600), TR_FD_DOWN, "down exactly at down_ms");
    cr_assert_eq(tr_fd_link_down(&fd, &cfg, 1600, 7), TR_FD_DOWN);
    cr_assert_eq(fd.status, TR_MEMBER_DOWN);
    cr_assert_eq(tr_fd_link_up(&fd, &cfg, 2000), TR_FD_UP, "a new link brings it up");
}

Test(membership, a_member_that_never_came_up_is_not_reported_down) {
    tr_fd fd;
    tr_fd_init(&fd, &cfg, 0);
    cr_assert_eq(tr_fd_link_down(&fd, &cfg, 0, 0), TR_FD_SAME);
    cr_assert_eq(fd.status, TR_MEMBER_JOINING);
}

Test(membership, backoff_doubles_with_jitter_up_to_the_cap_and_resets) {
    tr_fd fd;
    tr_fd_init(&fd, &cfg, 0);
    cr_assert(tr_fd_should_dial(&fd, 0));
    uint32_t ceiling = 100;
    uint64_t now = 0;
    for (int i = 0; i < 10; i++) {
        tr_fd_link_down(&fd, &cfg, now, 0xdeadbeefcafeull * (uint64_t)(i + 1));
        uint64_t delay = fd.next_dial_ms - now;
        cr_assert_geq(delay, ceiling / 2, "attempt %d delay %llu", i, (unsigned long long)delay);
        cr_assert_lt(delay, ceiling, "attempt %d delay %llu", i, (unsigned long long)delay);
        cr_assert(!tr_fd_should_dial(&fd, fd.next_dial_ms - 1));
        cr_assert(tr_fd_should_dial(&fd, fd.next_dial_ms));
        now = fd.next_dial_ms;
        ceiling = ceiling * 2 > 1600 ? 1600 : ceiling * 2;
    }
    tr_fd_link_up(&fd, &cfg, now);
    cr_assert_eq(fd.backoff_ms, 100, "a good link resets the backoff");
}

Test(membership, gossip_round_trips_and_refuses_bad_entries) {
    tr_gossip_entry e[3] = {{"n1", 1, "127.0.0.1:7401", 5}, {"n2", 2, "127.0.0.1:7402", 6},
                            {"n3", 3, "[::1]:7403", 7}};
    static uint8_t buf[4096];
    long n = tr_gossip_encode(e, 3, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_leq((size_t)n, tr_gossip_size_max(3));
    tr_gossip_entry out[3];
    size_t cnt;
    cr_assert_eq(tr_gossip_decode(buf + 4, (size_t)n - 4, out, 3, &cnt), 0);
    cr_assert_eq(cnt, 3);
    cr_assert_str_eq(out[2].addr, "[::1]:7403");
    cr_assert_eq(out[1].incarnation, 6);
    cr_assert_eq(tr_gossip_decode(buf + 4, (size_t)n - 4, out, 2, &cnt), TR_EPROTO,
                 "more entries than room");
    for (long cut = 0; cut < n - 4; cut++) {
        cr_assert_eq(tr_gossip_decode(buf + 4, (size_t)cut, out, 3, &cnt), TR_EPROTO);
    }
    tr_gossip_entry zero[1] = {{"n0", 0, "127.0.0.1:1", 1}};
    n = tr_gossip_encode(zero, 1, buf, sizeof buf);
    cr_assert_eq(tr_gossip_decode(buf + 4, (size_t)n - 4, out, 3, &cnt), TR_EPROTO, "id 0");
}
