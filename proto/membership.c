/* membership.c — failure detector, backoff and gossip frames (see membership.h). */
#include "proto/membership.h"

#include <math.h>
#include <string.h>

#include "proto/frame.h"
#include "runtime/assert.h"

const char *tr__member_status_name(tr_member_status s) {
    switch (s) {
    case TR_MEMBER_JOINING: return "joining";
    case TR_MEMBER_UP: return "up";
    case TR_MEMBER_SUSPECT: return "suspect";
    case TR_MEMBER_DOWN: return "down";
    }
    return "?";
}

int tr__fd_config_check(const tr_fd_config *cfg) {
    bool ok = cfg->heartbeat_ms > 0 && cfg->min_std_ms > 0 && cfg->down_ms > 0 &&
              cfg->backoff_min_ms > 0 && cfg->phi_suspect > 0 &&
              cfg->phi_down >= cfg->phi_suspect &&
              (cfg->phi_down <= TR_FD_PHI_MAX || cfg->phi_down == INFINITY);
    return ok ? 0 : TR_EINVAL; /* written so that NaN thresholds fail too */
}

void tr__fd_history_clear(tr_fd_history *h) {
    memset(h, 0, sizeof *h);
}

void tr__fd_history_add(tr_fd_history *h, uint64_t interval_ms) {
    TR_ASSERT(h->count <= TR_FD_WINDOW && h->next < TR_FD_WINDOW);
    uint32_t x = interval_ms > TR_FD_INTERVAL_MAX ? TR_FD_INTERVAL_MAX : (uint32_t)interval_ms;
    if (h->count == TR_FD_WINDOW) { /* full: the oldest sample (in slot next) leaves */
        uint64_t old = h->interval_ms[h->next];
        h->sum_ms -= old;
        h->sum_sq_ms -= old * old;
    } else {
        h->count++;
    }
    h->interval_ms[h->next] = x;
    h->sum_ms += x;
    h->sum_sq_ms += (uint64_t)x * x;
    h->next = (h->next + 1) % TR_FD_WINDOW;
    TR_ASSERT(h->sum_ms <= (uint64_t)h->count * TR_FD_INTERVAL_MAX);
}

void tr__fd_estimate(const tr_fd_history *h, const tr_fd_config *cfg, double *mean_ms,
                     double *std_ms) {
    /* A short history: the configured interval, with a quarter of it as deviation (how
     * Akka bootstraps its detector), so the first jittery beats of a link do not flap. */
    double mean = cfg->heartbeat_ms, std = cfg->heartbeat_ms / 4.0;
    if (h->count >= TR_FD_SAMPLES_MIN) {
        /* n^2 var = n sum_sq - sum^2, exact in 64 bits (both at most 3.6e15) and >= 0 by
         * Cauchy-Schwarz, so no cancellation and no negative variance. */
        uint64_t n = h->count;
        uint64_t num = n * h->sum_sq_ms - h->sum_ms * h->sum_ms;
        mean = (double)h->sum_ms / (double)n;
        std = sqrt((double)num) / (double)n;
    }
    *mean_ms = mean;
    *std_ms = std < cfg->min_std_ms ? cfg->min_std_ms : std;
}

/* -log10 of the normal upper tail at z, from its asymptotic series (Mills' ratio). */
static double phi_tail_series(double z) {
    double z2 = z * z;
    double ln = z2 / 2 + log(z) + 0.5 * log(2 * M_PI) - log1p(-1 / z2 + 3 / (z2 * z2));
    return ln / M_LN10;
}

double tr__fd_phi_normal(double elapsed_ms, double mean_ms, double std_ms) {
    TR_ASSERT(std_ms > 0);
    double z = (elapsed_ms - mean_ms) / std_ms;
    /* erfc is exact until its result nears the smallest double (z ~ 37); past z = 30
     * (phi ~ 197, above any threshold allowed) the series continues it, shifted to meet it
     * exactly so that phi stays continuous and increasing. */
    const double zs = 30;
    if (z > zs) {
        return -log10(0.5 * erfc(zs / M_SQRT2)) + phi_tail_series(z) - phi_tail_series(zs);
    }
    double p = 0.5 * erfc(z / M_SQRT2);
    return p >= 1 ? 0 : -log10(p);
}

double tr__fd_phi(const tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms) {
    if (now_ms <= fd->last_heard_ms) {
        return 0;
    }
    double mean, std;
    tr__fd_estimate(&fd->history, cfg, &mean, &std);
    return tr__fd_phi_normal((double)(now_ms - fd->last_heard_ms), mean + cfg->pause_ms, std);
}

void tr__fd_init(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms) {
    TR_ASSERT(tr__fd_config_check(cfg) == 0);
    memset(fd, 0, sizeof *fd);
    fd->status = TR_MEMBER_JOINING;
    fd->last_heard_ms = now_ms;
    fd->next_dial_ms = now_ms;
    fd->backoff_ms = cfg->backoff_min_ms;
}

int tr__fd_heard(tr_fd *fd, uint64_t now_ms, bool heartbeat) {
    fd->last_heard_ms = now_ms;
    tr_fd_history *h = &fd->history;
    if (heartbeat) {
        if (h->beat_seen && now_ms >= h->last_beat_ms) {
            tr__fd_history_add(h, now_ms - h->last_beat_ms);
        }
        h->beat_seen = true;
        h->last_beat_ms = now_ms;
    }
    if (fd->linked && fd->status == TR_MEMBER_SUSPECT) {
        fd->status = TR_MEMBER_UP;
        return TR_FD_UP;
    }
    return TR_FD_SAME;
}

int tr__fd_link_up(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms) {
    fd->linked = true;
    fd->last_heard_ms = now_ms;
    fd->backoff_ms = cfg->backoff_min_ms;
    /* A new connection may be a restarted peer: its old rhythm says nothing. */
    tr__fd_history_clear(&fd->history);
    tr_member_status was = fd->status;
    fd->status = TR_MEMBER_UP;
    return was == TR_MEMBER_UP ? TR_FD_SAME : TR_FD_UP;
}

int tr__fd_link_down(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms, uint64_t random) {
    uint32_t d = fd->backoff_ms < cfg->backoff_min_ms ? cfg->backoff_min_ms : fd->backoff_ms;
    uint32_t half = d / 2;
    fd->next_dial_ms = now_ms + half + (half ? random % half : 0);
    fd->backoff_ms = d >= cfg->backoff_max_ms / 2 ? cfg->backoff_max_ms : d * 2;
    fd->linked = false;
    /* A member that never came up stays JOINING: "down" is news only about a node we had. */
    if (fd->status == TR_MEMBER_UP || fd->status == TR_MEMBER_SUSPECT) {
        fd->status = TR_MEMBER_DOWN;
        return TR_FD_DOWN;
    }
    return TR_FD_SAME;
}

int tr__fd_tick(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms) {
    if (!fd->linked || now_ms < fd->last_heard_ms) {
        return TR_FD_SAME;
    }
    double phi = tr__fd_phi(fd, cfg, now_ms);
    if (now_ms - fd->last_heard_ms >= cfg->down_ms || phi >= cfg->phi_down) {
        return TR_FD_DOWN; /* the caller closes the link, then calls tr__fd_link_down */
    }
    if (phi >= cfg->phi_suspect && fd->status == TR_MEMBER_UP) {
        fd->status = TR_MEMBER_SUSPECT;
        return TR_FD_SUSPECT;
    }
    return TR_FD_SAME;
}

bool tr__fd_should_dial(const tr_fd *fd, uint64_t now_ms) {
    return !fd->linked && now_ms >= fd->next_dial_ms;
}

size_t tr__gossip_size_max(size_t n) {
    return 16 + n * (1 + 2 + TR_NAME_MAX + 5 + 2 + TR_ADDR_STR_MAX + 9);
}

long tr__gossip_encode(const tr_gossip_entry *e, size_t n, uint8_t *buf, size_t cap) {
    TR_ASSERT(n <= TR_MEMBERS_MAX);
    tr_mp_writer w;
    tr__frame_begin(&w, buf, cap);
    tr_mp_write_array(&w, 2);
    tr_mp_write_uint(&w, TR_FRAME_GOSSIP);
    tr_mp_write_array(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        tr_mp_write_array(&w, 4);
        tr_mp_write_str(&w, e[i].name, strlen(e[i].name));
        tr_mp_write_uint(&w, e[i].id);
        tr_mp_write_str(&w, e[i].addr, strlen(e[i].addr));
        tr_mp_write_uint(&w, e[i].incarnation);
    }
    return tr__frame_end(&w);
}

int tr__gossip_decode(const uint8_t *payload, size_t len, tr_gossip_entry *e, size_t cap,
                      size_t *n) {
    tr_mp_reader r;
    uint32_t cnt, members, fields;
    uint64_t kind, id;
    tr_mp_reader_init(&r, payload, len);
    if (tr_mp_read_array(&r, &cnt) || cnt != 2 || tr_mp_read_uint(&r, &kind) ||
        kind != TR_FRAME_GOSSIP || tr_mp_read_array(&r, &members) || members > cap) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < members; i++) {
        if (tr_mp_read_array(&r, &fields) || fields != 4 ||
            tr_mp_read_str_copy(&r, e[i].name, sizeof e[i].name) || tr_mp_read_uint(&r, &id) ||
            id == 0 || id > UINT32_MAX || tr_mp_read_str_copy(&r, e[i].addr, sizeof e[i].addr) ||
            tr_mp_read_uint(&r, &e[i].incarnation) || !e[i].name[0] || !e[i].addr[0]) {
            return TR_EPROTO;
        }
        e[i].id = (uint32_t)id;
    }
    if (tr_mp_reader_done(&r)) {
        return TR_EPROTO;
    }
    *n = members;
    return 0;
}
