#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cluster/frame.h"
#include "cluster/membership.h"

/* Unit-test knobs: heartbeat 100 ms, deviation floor 10 ms, acceptable pause 10 ms, hard
 * bound 1,000 ms. Small floors so that the history, not the knobs, decides. */
static const tr_fd_config cfg = {.heartbeat_ms = 100,
                                 .min_std_ms = 10,
                                 .pause_ms = 10,
                                 .phi_suspect = 5,
                                 .phi_down = 8,
                                 .down_ms = 1000,
                                 .backoff_min_ms = 100,
                                 .backoff_max_ms = 1600};

/* Deterministic jitter source (an LCG; tests must not depend on a real random source). */
static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Heartbeats every interval[i] ms from a link up at `start`, the detector ticking every
 * `tick_ms` in between (as the transport does). Returns the time of the last beat; fails
 * the test if any tick says anything but TR_FD_SAME. */
static uint64_t beat(tr_fd *fd, const tr_fd_config *c, uint64_t start, const uint32_t *interval,
                     size_t n, uint32_t tick_ms) {
    uint64_t now = start;
    for (size_t i = 0; i < n; i++) {
        uint64_t next = now + interval[i];
        for (uint64_t t = now + tick_ms; t < next; t += tick_ms) {
            int ev = tr__fd_tick(fd, c, t);
            cr_assert_eq(ev, TR_FD_SAME, "beat %zu (+%u ms), t=%llu: event %d, phi %.2f", i,
                         interval[i], (unsigned long long)(t - now), ev, tr__fd_phi(fd, c, t));
        }
        now = next;
        tr__fd_heard(fd, now, true);
    }
    return now;
}

/* The first silence (ms after the last frame) at which phi reaches `threshold`, stepping 1 ms
 * up to the hard bound; 0 if it never does. */
static uint64_t phi_crossing(const tr_fd *fd, const tr_fd_config *c, double threshold) {
    for (uint64_t s = 1; s <= c->down_ms; s++) {
        if (tr__fd_phi(fd, c, fd->last_heard_ms + s) >= threshold) {
            return s;
        }
    }
    return 0;
}

/* A member linked at 0 that heard n heartbeats with the given intervals. */
static void history_of(tr_fd *fd, const tr_fd_config *c, const uint32_t *interval, size_t n) {
    tr__fd_init(fd, c, 0);
    tr__fd_link_up(fd, c, 0);
    uint64_t now = 0;
    for (size_t i = 0; i < n; i++) {
        now += interval[i];
        tr__fd_heard(fd, now, true);
    }
}

Test(membership, phi_is_the_normal_tail_in_minus_log10) {
    cr_assert_float_eq(tr__fd_phi_normal(100, 100, 10), -log10(0.5), 1e-12, "at the mean: P = 1/2");
    /* P(Z > 1) = 0.158655..., P(Z > 3) = 0.001349... */
    cr_assert_float_eq(tr__fd_phi_normal(110, 100, 10), -log10(0.15865525393145707), 1e-9);
    cr_assert_float_eq(tr__fd_phi_normal(130, 100, 10), -log10(0.0013498980316301), 1e-9);
    cr_assert_lt(tr__fd_phi_normal(0, 100, 10), 1e-15, "long before the mean: about 0");
    cr_assert_geq(tr__fd_phi_normal(0, 100, 10), 0, "never negative");
    double prev = 0;
    for (double t = 0; t <= 2000; t += 0.25) { /* z from -10 to 190: through the series */
        double phi = tr__fd_phi_normal(t, 100, 10);
        cr_assert(isfinite(phi), "t=%g", t);
        cr_assert_geq(phi, prev, "phi falls at t=%g: %.17g < %.17g", t, phi, prev);
        prev = phi;
    }
    cr_assert_gt(prev, 1000, "far tail keeps rising (%g)", prev);
}

Test(membership, estimate_uses_the_heartbeat_until_three_samples_then_the_window) {
    tr_fd_config c = cfg;
    c.min_std_ms = 1;
    tr_fd_history h;
    tr__fd_history_clear(&h);
    double mean, std;
    tr__fd_history_add(&h, 40);
    tr__fd_history_add(&h, 60);
    tr__fd_estimate(&h, &c, &mean, &std);
    cr_assert_float_eq(mean, 100, 1e-12, "two samples: the configured heartbeat");
    cr_assert_float_eq(std, 25, 1e-12, "and a quarter of it");
    tr__fd_history_add(&h, 80);
    tr__fd_history_add(&h, 100);
    tr__fd_estimate(&h, &c, &mean, &std);
    cr_assert_float_eq(mean, 70, 1e-12);
    cr_assert_float_eq(std, sqrt(500.0), 1e-9, "population deviation of 40, 60, 80, 100");
    c.min_std_ms = 30;
    tr__fd_estimate(&h, &c, &mean, &std);
    cr_assert_float_eq(std, 30, 1e-12, "floored at min_std_ms");
}

Test(membership, window_wraps_keeping_exact_sums_of_the_last_samples) {
    tr_fd_history h;
    tr__fd_history_clear(&h);
    uint32_t all[350];
    uint64_t seed = 7;
    for (size_t i = 0; i < 350; i++) {
        all[i] = (uint32_t)(lcg(&seed) % 5000);
        tr__fd_history_add(&h, all[i]);
        size_t from = i + 1 > TR_FD_WINDOW ? i + 1 - TR_FD_WINDOW : 0;
        uint64_t sum = 0, sq = 0;
        for (size_t k = from; k <= i; k++) {
            sum += all[k];
            sq += (uint64_t)all[k] * all[k];
        }
        cr_assert_eq(h.count, i + 1 - from, "sample %zu", i);
        cr_assert_eq(h.sum_ms, sum, "sample %zu: sum", i);
        cr_assert_eq(h.sum_sq_ms, sq, "sample %zu: sum of squares", i);
    }
    /* After a full window of 500 ms the old rhythm is gone entirely. */
    for (int i = 0; i < TR_FD_WINDOW; i++) {
        tr__fd_history_add(&h, 500);
    }
    tr_fd_config c = cfg;
    c.min_std_ms = 1;
    double mean, std;
    tr__fd_estimate(&h, &c, &mean, &std);
    cr_assert_float_eq(mean, 500, 1e-12);
    cr_assert_float_eq(std, 1, 1e-12, "zero variance, floored at 1");
    tr__fd_history_add(&h, 10ull * TR_FD_INTERVAL_MAX);
    cr_assert_eq(h.interval_ms[(h.next + TR_FD_WINDOW - 1) % TR_FD_WINDOW], TR_FD_INTERVAL_MAX,
                 "an absurd interval is clamped");
}

Test(membership, regular_heartbeats_never_suspect) {
    static uint32_t iv[2000];
    for (size_t i = 0; i < 2000; i++) {
        iv[i] = 100;
    }
    tr_fd fd;
    tr__fd_init(&fd, &cfg, 0);
    tr__fd_link_up(&fd, &cfg, 0);
    beat(&fd, &cfg, 0, iv, 2000, 5);
    cr_assert_eq(fd.status, TR_MEMBER_UP);
    cr_assert_eq(fd.history.count, TR_FD_WINDOW);
}

Test(membership, jittered_heartbeats_never_suspect) {
    /* 100 ms +- 60 ms uniform (deviation ~35 ms, 3.5 x the floor); the pause is only 10 ms,
     * so it is the measured variance that keeps 160 ms gaps below the threshold. */
    static uint32_t iv[3000];
    uint64_t seed = 42;
    for (size_t i = 0; i < 3000; i++) {
        iv[i] = 40 + (uint32_t)(lcg(&seed) % 121);
    }
    tr_fd fd;
    tr__fd_init(&fd, &cfg, 0);
    tr__fd_link_up(&fd, &cfg, 0);
    beat(&fd, &cfg, 0, iv, 3000, 5);
    cr_assert_eq(fd.status, TR_MEMBER_UP);
    double mean, std;
    tr__fd_estimate(&fd.history, &cfg, &mean, &std);
    cr_assert(std > 25 && std < 45, "measured deviation %.1f", std);
}

Test(membership, silence_raises_phi_through_suspect_then_down_before_the_bound) {
    static uint32_t iv[200];
    for (size_t i = 0; i < 200; i++) {
        iv[i] = 100;
    }
    tr_fd fd;
    tr__fd_init(&fd, &cfg, 0);
    tr__fd_link_up(&fd, &cfg, 0);
    uint64_t last = beat(&fd, &cfg, 0, iv, 200, 5);
    double prev = tr__fd_phi(&fd, &cfg, last);
    cr_assert_eq(prev, 0, "a frame just heard");
    uint64_t suspect_at = 0, down_at = 0;
    for (uint64_t t = last + 1; !down_at; t++) {
        double phi = tr__fd_phi(&fd, &cfg, t);
        cr_assert_geq(phi, prev, "phi rises monotonically (t=+%llu)",
                      (unsigned long long)(t - last));
        prev = phi;
        int ev = tr__fd_tick(&fd, &cfg, t);
        if (ev == TR_FD_SUSPECT) {
            cr_assert_eq(suspect_at, 0, "suspect reported once");
            cr_assert_geq(phi, cfg.phi_suspect);
            suspect_at = t - last;
        } else if (ev == TR_FD_DOWN) {
            cr_assert_geq(phi, cfg.phi_down);
            down_at = t - last;
        } else {
            cr_assert_eq(ev, TR_FD_SAME);
            cr_assert_lt(phi, suspect_at ? cfg.phi_down : cfg.phi_suspect);
        }
    }
    cr_assert_gt(suspect_at, 100, "not before the next beat was due (%llu)",
                 (unsigned long long)suspect_at);
    cr_assert_lt(suspect_at, down_at);
    cr_assert_lt(down_at, cfg.down_ms / 2, "phi beats the hard bound by far (%llu ms)",
                 (unsigned long long)down_at);
    cr_assert_eq(fd.status, TR_MEMBER_SUSPECT);
}

Test(membership, a_regular_history_goes_down_sooner_than_an_erratic_one) {
    tr_fd_config c = cfg;
    c.heartbeat_ms = 500;
    c.min_std_ms = 50;
    c.pause_ms = 100;
    c.down_ms = 10000;
    static uint32_t regular[300], erratic[300], fast_erratic[300], slow[300];
    for (size_t i = 0; i < 300; i++) {
        regular[i] = 500;
        erratic[i] = i % 2 ? 900 : 100;     /* same mean, deviation 400 */
        fast_erratic[i] = i % 2 ? 380 : 20; /* mean 200, deviation 180 */
        slow[i] = 1000;                     /* regular, but twice as slow */
    }
    tr_fd a, b, f, s;
    history_of(&a, &c, regular, 300);
    history_of(&b, &c, erratic, 300);
    history_of(&f, &c, fast_erratic, 300);
    history_of(&s, &c, slow, 300);
    uint64_t da = phi_crossing(&a, &c, c.phi_down), db = phi_crossing(&b, &c, c.phi_down);
    uint64_t df = phi_crossing(&f, &c, c.phi_down), ds = phi_crossing(&s, &c, c.phi_down);
    cr_assert(da && db && df && ds, "%llu %llu %llu %llu", (unsigned long long)da,
              (unsigned long long)db, (unsigned long long)df, (unsigned long long)ds);
    /* mean + pause + 5.61 std: 600 + 281 = 881; 600 + 2245; 300 + 1011; 1100 + 281 */
    cr_assert(da > 500 && da < 1000, "regular 500 ms: down after %llu ms", (unsigned long long)da);
    cr_assert_lt(da, df, "a short-interval, large-variance history waits longer");
    cr_assert_lt(df, db, "so does the same mean with a larger variance");
    cr_assert_lt(da, ds, "a slower rhythm waits longer");
    cr_assert_lt(ds, db);
}

Test(membership, an_acceptable_pause_delays_the_verdict_by_its_length) {
    static uint32_t regular[150];
    for (size_t i = 0; i < 150; i++) {
        regular[i] = 100;
    }
    tr_fd_config c0 = cfg, c1 = cfg;
    c0.pause_ms = 0;
    c1.pause_ms = 300; /* a GC-like stall of the sender this long is tolerated */
    tr_fd fd;
    history_of(&fd, &c0, regular, 150);
    uint64_t d0 = phi_crossing(&fd, &c0, c0.phi_down), d1 = phi_crossing(&fd, &c1, c1.phi_down);
    cr_assert(d0 > 100 && d1 >= d0 + 299 && d1 <= d0 + 301, "down at +%llu vs +%llu",
              (unsigned long long)d0, (unsigned long long)d1);
    cr_assert_lt(tr__fd_phi(&fd, &c1, fd.last_heard_ms + 100 + 300), 0.31,
                 "a beat late by the pause is as likely as an on-time one without it");
}

Test(membership, down_comes_at_the_hard_bound_whatever_phi_says) {
    tr_fd_config c = cfg;
    c.down_ms = 600;
    static uint32_t wild[100];
    for (size_t i = 0; i < 100; i++) {
        wild[i] = i % 2 ? 1500 : 10; /* deviation 745 ms: phi stays low for seconds */
    }
    tr_fd fd;
    history_of(&fd, &c, wild, 100);
    uint64_t last = fd.last_heard_ms;
    for (uint64_t t = last + 1; t < last + c.down_ms; t++) {
        cr_assert_neq(tr__fd_tick(&fd, &c, t), TR_FD_DOWN, "t=+%llu",
                      (unsigned long long)(t - last));
    }
    cr_assert_lt(tr__fd_phi(&fd, &c, last + c.down_ms), c.phi_suspect, "phi alone would wait");
    cr_assert_eq(tr__fd_tick(&fd, &c, last + c.down_ms), TR_FD_DOWN, "down at down_ms exactly");
}

Test(membership, any_frame_resets_the_silence_but_only_heartbeats_are_sampled) {
    tr_fd fd;
    tr__fd_init(&fd, &cfg, 0);
    tr__fd_link_up(&fd, &cfg, 0);
    uint64_t now = 0;
    for (int period = 0; period < 400; period++) {
        now += 100;
        cr_assert_eq(tr__fd_heard(&fd, now, true), TR_FD_SAME);
        /* periods 50..249: a burst of 80 user frames 1 ms apart after each beat */
        for (int k = 1; period >= 50 && period < 250 && k <= 80; k++) {
            tr__fd_heard(&fd, now + (uint64_t)k, false);
        }
        /* then silence until the next beat, 20 to 99 ms after the last frame */
        for (uint64_t t = fd.last_heard_ms + 5; t < now + 100; t += 5) {
            cr_assert_eq(tr__fd_tick(&fd, &cfg, t), TR_FD_SAME, "period %d t=+%llu phi %.2f",
                         period, (unsigned long long)(t - now), tr__fd_phi(&fd, &cfg, t));
        }
    }
    double mean, std;
    tr__fd_estimate(&fd.history, &cfg, &mean, &std);
    cr_assert_float_eq(mean, 100, 1e-9, "user frames are not samples");
    uint64_t t = fd.last_heard_ms + 300;
    cr_assert_geq(tr__fd_phi(&fd, &cfg, t), cfg.phi_down);
    tr__fd_heard(&fd, t - 1, false);
    cr_assert_lt(tr__fd_phi(&fd, &cfg, t), 0.01, "a user frame is a sign of life");
}

Test(membership, silence_goes_suspect_then_down_and_a_frame_revives) {
    tr_fd fd;
    tr__fd_init(&fd, &cfg, 0);
    cr_assert_eq(tr__fd_tick(&fd, &cfg, 5000), TR_FD_SAME, "unlinked: no verdict");
    cr_assert_eq(tr__fd_link_up(&fd, &cfg, 10), TR_FD_UP);
    /* fresh link: mean 100 + pause 10, deviation 25: suspect at z 4.26, down at z 5.61 */
    uint64_t s = phi_crossing(&fd, &cfg, cfg.phi_suspect);
    uint64_t d = phi_crossing(&fd, &cfg, cfg.phi_down);
    cr_assert(s > 200 && s < d && d < 300, "suspect +%llu, down +%llu", (unsigned long long)s,
              (unsigned long long)d);
    cr_assert_eq(tr__fd_tick(&fd, &cfg, 10 + s - 1), TR_FD_SAME);
    cr_assert_eq(tr__fd_tick(&fd, &cfg, 10 + s), TR_FD_SUSPECT);
    cr_assert_eq(fd.status, TR_MEMBER_SUSPECT);
    cr_assert_eq(tr__fd_heard(&fd, 10 + s + 1, false), TR_FD_UP, "a frame clears suspicion");
    uint64_t base = fd.last_heard_ms;
    cr_assert_eq(tr__fd_tick(&fd, &cfg, base + s), TR_FD_SUSPECT);
    cr_assert_eq(tr__fd_tick(&fd, &cfg, base + d - 1), TR_FD_SAME);
    cr_assert_eq(tr__fd_tick(&fd, &cfg, base + d), TR_FD_DOWN);
    cr_assert_eq(tr__fd_link_down(&fd, &cfg, base + d, 7), TR_FD_DOWN);
    cr_assert_eq(fd.status, TR_MEMBER_DOWN);
    cr_assert_eq(tr__fd_tick(&fd, &cfg, base + 5000), TR_FD_SAME, "unlinked again");
    tr__fd_heard(&fd, base + d + 1, true);
    cr_assert_eq(tr__fd_link_up(&fd, &cfg, 2000), TR_FD_UP, "a new link brings it up");
    cr_assert_eq(fd.history.count, 0, "with a fresh history");
    cr_assert(!fd.history.beat_seen);
}

Test(membership, config_check_refuses_bad_thresholds) {
    cr_assert_eq(tr__fd_config_check(&cfg), 0);
    tr_fd_config c = cfg;
    c.phi_suspect = 9;
    cr_assert_eq(tr__fd_config_check(&c), TR_EINVAL, "suspect above down");
    c = cfg;
    c.phi_down = NAN;
    cr_assert_eq(tr__fd_config_check(&c), TR_EINVAL, "NaN");
    c = cfg;
    c.phi_down = TR_FD_PHI_MAX + 1;
    cr_assert_eq(tr__fd_config_check(&c), TR_EINVAL, "above the maximum");
    c = cfg;
    c.phi_suspect = 0;
    cr_assert_eq(tr__fd_config_check(&c), TR_EINVAL, "zero");
    c = cfg;
    c.min_std_ms = 0;
    cr_assert_eq(tr__fd_config_check(&c), TR_EINVAL, "no deviation floor");
}

Test(membership, an_infinite_down_threshold_leaves_only_the_hard_bound) {
    tr_fd_config c = cfg;
    c.phi_suspect = TR_FD_PHI_MAX;
    c.phi_down = INFINITY;
    cr_assert_eq(tr__fd_config_check(&c), 0);
    static uint32_t regular[50];
    for (size_t i = 0; i < 50; i++) {
        regular[i] = 100;
    }
    tr_fd fd;
    history_of(&fd, &c, regular, 50);
    uint64_t last = fd.last_heard_ms;
    int suspects = 0;
    for (uint64_t t = last + 1; t < last + c.down_ms; t++) {
        int ev = tr__fd_tick(&fd, &c, t);
        cr_assert_neq(ev, TR_FD_DOWN, "t=+%llu", (unsigned long long)(t - last));
        suspects += ev == TR_FD_SUSPECT;
    }
    cr_assert_eq(suspects, 1, "still suspected (at phi 100)");
    cr_assert_eq(tr__fd_tick(&fd, &c, last + c.down_ms), TR_FD_DOWN);
}

Test(membership, a_member_that_never_came_up_is_not_reported_down) {
    tr_fd fd;
    tr__fd_init(&fd, &cfg, 0);
    cr_assert_eq(tr__fd_link_down(&fd, &cfg, 0, 0), TR_FD_SAME);
    cr_assert_eq(fd.status, TR_MEMBER_JOINING);
}

Test(membership, backoff_doubles_with_jitter_up_to_the_cap_and_resets) {
    tr_fd fd;
    tr__fd_init(&fd, &cfg, 0);
    cr_assert(tr__fd_should_dial(&fd, 0));
    uint32_t ceiling = 100;
    uint64_t now = 0;
    for (int i = 0; i < 10; i++) {
        tr__fd_link_down(&fd, &cfg, now, 0xdeadbeefcafeull * (uint64_t)(i + 1));
        uint64_t delay = fd.next_dial_ms - now;
        cr_assert_geq(delay, ceiling / 2, "attempt %d delay %llu", i, (unsigned long long)delay);
        cr_assert_lt(delay, ceiling, "attempt %d delay %llu", i, (unsigned long long)delay);
        cr_assert(!tr__fd_should_dial(&fd, fd.next_dial_ms - 1));
        cr_assert(tr__fd_should_dial(&fd, fd.next_dial_ms));
        now = fd.next_dial_ms;
        ceiling = ceiling * 2 > 1600 ? 1600 : ceiling * 2;
    }
    tr__fd_link_up(&fd, &cfg, now);
    cr_assert_eq(fd.backoff_ms, 100, "a good link resets the backoff");
}

Test(membership, gossip_round_trips_and_refuses_bad_entries) {
    tr_gossip_entry e[3] = {
        {"n1", 1, "127.0.0.1:7401", 5}, {"n2", 2, "127.0.0.1:7402", 6}, {"n3", 3, "[::1]:7403", 7}};
    static uint8_t buf[4096];
    long n = tr__gossip_encode(e, 3, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_leq((size_t)n, tr__gossip_size_max(3));
    tr_gossip_entry out[3];
    size_t cnt;
    cr_assert_eq(tr__gossip_decode(buf + 4, (size_t)n - 4, out, 3, &cnt), 0);
    cr_assert_eq(cnt, 3);
    cr_assert_str_eq(out[2].addr, "[::1]:7403");
    cr_assert_eq(out[1].incarnation, 6);
    cr_assert_eq(tr__gossip_decode(buf + 4, (size_t)n - 4, out, 2, &cnt), TR_EPROTO,
                 "more entries than room");
    for (long cut = 0; cut < n - 4; cut++) {
        cr_assert_eq(tr__gossip_decode(buf + 4, (size_t)cut, out, 3, &cnt), TR_EPROTO);
    }
    tr_gossip_entry zero[1] = {{"n0", 0, "127.0.0.1:1", 1}};
    n = tr__gossip_encode(zero, 1, buf, sizeof buf);
    cr_assert_eq(tr__gossip_decode(buf + 4, (size_t)n - 4, out, 3, &cnt), TR_EPROTO, "id 0");
}
