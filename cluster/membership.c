/* membership.c — failure detector, backoff and gossip frames (see membership.h). */
#include "cluster/membership.h"

#include <assert.h>
#include <string.h>

#include "cluster/frame.h"

const char *tr_member_status_name(tr_member_status s) {
    switch (s) {
    case TR_MEMBER_JOINING: return "joining";
    case TR_MEMBER_UP: return "up";
    case TR_MEMBER_SUSPECT: return "suspect";
    case TR_MEMBER_DOWN: return "down";
    }
    return "?";
}

void tr_fd_init(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms) {
    assert(cfg->suspect_ms <= cfg->down_ms && cfg->backoff_min_ms > 0);
    memset(fd, 0, sizeof *fd);
    fd->status = TR_MEMBER_JOINING;
    fd->last_heard_ms = now_ms;
    fd->next_dial_ms = now_ms;
    fd->backoff_ms = cfg->backoff_min_ms;
}

int tr_fd_heard(tr_fd *fd, uint64_t now_ms) {
    fd->last_heard_ms = now_ms;
    if (fd->linked && fd->status == TR_MEMBER_SUSPECT) {
        fd->status = TR_MEMBER_UP;
        return TR_FD_UP;
    }
    return TR_FD_SAME;
}

int tr_fd_link_up(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms) {
    fd->linked = true;
    fd->last_heard_ms = now_ms;
    fd->backoff_ms = cfg->backoff_min_ms;
    tr_member_status was = fd->status;
    fd->status = TR_MEMBER_UP;
    return was == TR_MEMBER_UP ? TR_FD_SAME : TR_FD_UP;
}

int tr_fd_link_down(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms, uint64_t random) {
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

int tr_fd_tick(tr_fd *fd, const tr_fd_config *cfg, uint64_t now_ms) {
    if (!fd->linked || now_ms < fd->last_heard_ms) {
        return TR_FD_SAME;
    }
    uint64_t silent = now_ms - fd->last_heard_ms;
    if (silent >= cfg->down_ms) {
        return TR_FD_DOWN; /* the caller closes the link, then calls tr_fd_link_down */
    }
    if (silent >= cfg->suspect_ms && fd->status == TR_MEMBER_UP) {
        fd->status = TR_MEMBER_SUSPECT;
        return TR_FD_SUSPECT;
    }
    return TR_FD_SAME;
}

bool tr_fd_should_dial(const tr_fd *fd, uint64_t now_ms) {
    return !fd->linked && now_ms >= fd->next_dial_ms;
}

size_t tr_gossip_size_max(size_t n) {
    return 16 + n * (1 + 2 + TR_NAME_MAX + 5 + 2 + TR_ADDR_STR_MAX + 9);
}

long tr_gossip_encode(const tr_gossip_entry *e, size_t n, uint8_t *buf, size_t cap) {
    assert(n <= TR_MEMBERS_MAX);
    tr_mpw w;
    tr_frame_begin(&w, buf, cap);
    tr_mpw_array(&w, 2);
    tr_mpw_uint(&w, TR_FRAME_GOSSIP);
    tr_mpw_array(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        tr_mpw_array(&w, 4);
        tr_mpw_str(&w, e[i].name, strlen(e[i].name));
        tr_mpw_uint(&w, e[i].id);
        tr_mpw_str(&w, e[i].addr, strlen(e[i].addr));
        tr_mpw_uint(&w, e[i].incarnation);
    }
    return tr_frame_end(&w);
}

int tr_gossip_decode(const uint8_t *payload, size_t len, tr_gossip_entry *e, size_t cap,
                     size_t *n) {
    tr_mpr r;
    uint32_t cnt, members, fields;
    uint64_t kind, id;
    tr_mpr_init(&r, payload, len);
    if (tr_mpr_array(&r, &cnt) || cnt != 2 || tr_mpr_uint(&r, &kind) ||
        kind != TR_FRAME_GOSSIP || tr_mpr_array(&r, &members) || members > cap) {
        return TR_EPROTO;
    }
    for (uint32_t i = 0; i < members; i++) {
        if (tr_mpr_array(&r, &fields) || fields != 4 ||
            tr_mpr_str_copy(&r, e[i].name, sizeof e[i].name) || tr_mpr_uint(&r, &id) ||
            id == 0 || id > UINT32_MAX || tr_mpr_str_copy(&r, e[i].addr, sizeof e[i].addr) ||
            tr_mpr_uint(&r, &e[i].incarnation) || !e[i].name[0] || !e[i].addr[0]) {
            return TR_EPROTO;
        }
        e[i].id = (uint32_t)id;
    }
    if (tr_mpr_done(&r)) {
        return TR_EPROTO;
    }
    *n = members;
    return 0;
}
