/* linkv.c — the lin-kv replica actor (linkv.h): a table of TR__LINKV_KEYS registers as the
 * state machine of a tr_raft. Writes and compare-and-sets are Raft commands; reads go through
 * the leader's read-index. A command carries its client's address and correlation id, and the
 * state machine keeps each client's last one (a session, as in the Raft dissertation's
 * section 6.3): a request the network duplicated, or a forward that arrived twice, is applied
 * once and its copy gets the first outcome. At most SESSIONS_MAX clients are remembered; the
 * one idle longest (in log order) is forgotten first. A replica that does not lead forwards a client's
 * request to the leader it knows (once: a request that already came from another node is
 * refused rather than forwarded again, so forwards never cycle). While no leader is known, or
 * the one known is held down by the failure detector (an election is coming), a client's
 * request waits for another, at most WAIT_MS and WAIT_MAX of them: an election usually ends
 * well within a client's timeout.
 * A replica that has not heard from its leader for SILENT_TICKS Raft ticks while its failure
 * detector still counts the leader up (a ring or bridge partition: the leader leads a
 * majority this replica is not directly linked to) sends a client's request on every path
 * instead: to the leader, and through every other replica (linkv.h, TR__LINKV_RELAY), each
 * copy carrying the client's session so that the leader applies it once. Those copies are
 * answered only when done: no path may refuse while another may still apply it. */
#include <stdio.h>
#include <string.h>

#include "actors/linkv.h"

#define WAIT_MAX 32
#define WAIT_MS 500
#define WAIT_BODY_MAX 48 /* [key, from, to]: at most 3 * 9 + 1 bytes */

#define SESSIONS_MAX 64

#define SILENT_TICKS 4    /* two heartbeats missed */
#define ROUTE_BODY_MAX 64 /* [key, a, b, node, actor, corr] */

typedef struct session {
    uint64_t actor, corr, index; /* actor 0: a free slot */
    uint32_t node;
    int32_t code; /* the outcome of corr */
} session;

typedef struct waiting {
    tr_msg req; /* a copy; req.body points into body */
    uint64_t until_ms;
    int32_t stale; /* the leader it could not reach, or -1 */
    uint8_t body[WAIT_BODY_MAX];
} waiting;

typedef struct linkv {
    tr_raft raft;
    waiting wait[WAIT_MAX];
    uint32_t wait_count;
    uint64_t until_ms; /* a waiting request's deadline while it is dispatched again, else 0 */
    tr__linkv_arg arg;
    tr__linkv_leaders leaders;
    int64_t value[TR__LINKV_KEYS];
    uint8_t set[TR__LINKV_KEYS];
    session sessions[SESSIONS_MAX];
} linkv;

static void answer(tr_ctx *ctx, const tr_msg *req, int code, bool has, int64_t v) {
    uint8_t buf[32];
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, sizeof buf);
    tr_mp_write_array(&w, 2);
    tr_mp_write_int(&w, code);
    has ? tr_mp_write_int(&w, v) : tr_mp_write_nil(&w);
    (void)tr_reply(ctx, req, req->type, buf, w.len);
}

/* ---- the state machine ------------------------------------------------------------------- */

/* The session of client (node, actor): its own, or the slot it takes (a free one, else the
 * one applied longest ago), cleared. */
static session *session_of(linkv *s, uint32_t node, uint64_t actor) {
    session *lru = &s->sessions[0];
    for (uint32_t i = 0; i < SESSIONS_MAX; i++) {
        session *c = &s->sessions[i];
        if (c->actor == actor && c->node == node) {
            return c;
        }
        lru = c->index < lru->index ? c : lru;
    }
    *lru = (session){.actor = actor, .node = node};
    return lru;
}

static int update(linkv *s, const int64_t f[4]) {
    if (f[1] < 0 || f[1] >= TR__LINKV_KEYS) {
        return TR__LINKV_BAD;
    }
    if (f[0] == TR__LINKV_CAS && !s->set[f[1]]) {
        return TR__LINKV_UNSET;
    }
    if (f[0] == TR__LINKV_CAS && s->value[f[1]] != f[2]) {
        return TR__LINKV_MISMATCH;
    }
    s->value[f[1]] = f[0] == TR__LINKV_CAS ? f[3] : f[2];
    s->set[f[1]] = 1;
    return TR__LINKV_OK;
}

/* cmd [op, key, a, b, client node, client actor, corr]: op TR__LINKV_WRITE sets key to a;
 * TR__LINKV_CAS sets it to b if it is a; a corr the client's session has seen is not applied
 * again. The output is the answer's body. */
static int apply(void *ud, tr_ctx *ctx, uint64_t index, const void *cmd, size_t len, void *out,
                 size_t cap, size_t *out_len) {
    linkv *s = ud;
    int64_t f[4] = {0};
    uint64_t who[3] = {0};
    uint32_t n = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, cmd, len);
    tr_mp_read_array(&r, &n);
    for (uint32_t i = 0; i < 7 && n == 7; i++) {
        (void)(i < 4 ? tr_mp_read_int(&r, &f[i]) : tr_mp_read_uint(&r, &who[i - 4]));
    }
    int code = TR__LINKV_BAD;
    if (tr_mp_reader_done(&r) == 0 && n == 7 && who[0] <= UINT32_MAX && who[1] != 0) {
        session *c = session_of(s, (uint32_t)who[0], who[1]);
        bool again = c->corr != 0 && who[2] <= c->corr;
        code = again ? c->code : update(s, f);
        c->corr = again ? c->corr : who[2];
        c->code = code;
        c->index = index;
    }
    tr_mp_writer w;
    tr_mp_writer_init(&w, out, cap);
    tr_mp_write_array(&w, 2);
    tr_mp_write_int(&w, code);
    tr_mp_write_nil(&w);
    *out_len = w.len;
    return w.err;
}

static int write_table(const linkv *s, tr_mp_writer *w) {
    tr_mp_write_array(w, TR__LINKV_KEYS);
    for (int k = 0; k < TR__LINKV_KEYS; k++) {
        s->set[k] ? tr_mp_write_int(w, s->value[k]) : tr_mp_write_nil(w);
    }
    return w->err;
}

/* [table, sessions]: sessions as [node, actor, corr, index, code] each. */
static int snapshot(void *ud, tr_ctx *ctx, void *buf, size_t cap, size_t *len) {
    const linkv *s = ud;
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_array(&w, 2);
    write_table(s, &w);
    tr_mp_write_array(&w, SESSIONS_MAX);
    for (uint32_t i = 0; i < SESSIONS_MAX; i++) {
        const session *c = &s->sessions[i];
        tr_mp_write_array(&w, 5);
        tr_mp_write_uint(&w, c->node);
        tr_mp_write_uint(&w, c->actor);
        tr_mp_write_uint(&w, c->corr);
        tr_mp_write_uint(&w, c->index);
        tr_mp_write_int(&w, c->code);
    }
    *len = w.len;
    return w.err;
}

static int restore_sessions(linkv *s, tr_mp_reader *r) {
    uint32_t n = 0;
    if (tr_mp_read_array(r, &n) != 0 || n != SESSIONS_MAX) {
        return TR_ECORRUPT;
    }
    for (uint32_t i = 0; i < SESSIONS_MAX; i++) {
        uint64_t v[4] = {0};
        int64_t code = 0;
        tr_mp_read_array(r, &n);
        for (uint32_t k = 0; k < 4; k++) {
            tr_mp_read_uint(r, &v[k]);
        }
        tr_mp_read_int(r, &code);
        if (n != 5 || v[0] > UINT32_MAX) {
            return TR_ECORRUPT;
        }
        s->sessions[i] = (session){.node = (uint32_t)v[0],
                                   .actor = v[1],
                                   .corr = v[2],
                                   .index = v[3],
                                   .code = (int32_t)code};
    }
    return 0;
}

static int restore(void *ud, tr_ctx *ctx, const void *data, size_t len) {
    linkv *s = ud;
    uint32_t n = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, data, len);
    if (tr_mp_read_array(&r, &n) != 0 || n != 2 || tr_mp_read_array(&r, &n) != 0 ||
        n != TR__LINKV_KEYS) {
        return TR_ECORRUPT;
    }
    for (int k = 0; k < TR__LINKV_KEYS; k++) {
        s->set[k] = tr_mp_peek(&r) != TR_MP_NIL;
        s->value[k] = 0;
        (void)(s->set[k] ? tr_mp_read_int(&r, &s->value[k]) : tr_mp_read_nil(&r));
    }
    int rc = restore_sessions(s, &r);
    return rc == 0 && tr_mp_reader_done(&r) == 0 ? 0 : TR_ECORRUPT;
}

/* A proposal's outcome (the apply output is the answer) or a read that may now be answered. */
/* The client's operation (READ, WRITE, CAS) of a request of any route. */
static uint32_t op_of(uint32_t type) {
    return type >= TR__LINKV_LEADER  ? type - TR__LINKV_LEADER + TR__LINKV_READ
           : type >= TR__LINKV_RELAY ? type - TR__LINKV_RELAY + TR__LINKV_READ
                                     : type;
}

/* A membership change's outcome as an answer code. */
static int member_code(int status) {
    return status == 0           ? TR__LINKV_OK
           : status == TR_EAGAIN ? TR__LINKV_NO_LEADER
           : status == TR_EBUSY || status == TR_ETIMEDOUT || status == TR_EFULL ? TR__LINKV_BUSY
                                                                                : TR__LINKV_BAD;
}

static void done(void *ud, tr_ctx *ctx, const tr_msg *req_in, int status, const void *out,
                 size_t len) {
    const linkv *s = ud;
    int64_t key = -1;
    uint32_t n = 0;
    tr_msg copy = *req_in; /* answered under the client's operation's type */
    const tr_msg *req = &copy;
    copy.type = op_of(req_in->type);
    if (req->type == TR__LINKV_MEMBER) {
        answer(ctx, req, member_code(status), false, 0);
    } else if (status != 0) {
        if (copy.type == req_in->type) { /* a routed copy never refuses */
            answer(ctx, req, status == TR_EAGAIN ? TR__LINKV_NO_LEADER : TR__LINKV_BAD, false, 0);
        }
    } else if (req->type != TR__LINKV_READ) {
        (void)tr_reply(ctx, req, req->type, out, len);
    } else {
        tr_mp_reader r;
        tr_mp_reader_init(&r, req->body, req->body_len);
        tr_mp_read_array(&r, &n);
        tr_mp_read_int(&r, &key);
        bool ok = r.err == 0 && key >= 0 && key < TR__LINKV_KEYS;
        answer(ctx, req, ok ? TR__LINKV_OK : TR__LINKV_BAD, ok && s->set[key],
               ok ? s->value[key] : 0);
    }
}

/* ---- requests ------------------------------------------------------------------------------ */

static bool hold(linkv *s, tr_ctx *ctx, const tr_msg *m, int32_t stale) {
    if (s->wait_count == WAIT_MAX || m->body_len > WAIT_BODY_MAX) {
        return false;
    }
    waiting *w = &s->wait[s->wait_count++];
    w->stale = stale;
    memset(&w->req, 0, sizeof w->req);
    w->req.type = m->type;
    w->req.from = m->from;
    w->req.to = m->to;
    w->req.corr = m->corr;
    w->req.trace = m->trace;
    w->req.body_len = m->body_len;
    memcpy(w->body, m->body, m->body_len);
    w->until_ms = s->until_ms ? s->until_ms : tr_now_ms(ctx) + WAIT_MS;
    return true;
}

/* A copy of client request m (its operation's fields f[0..n)) as a routed request of `type`
 * (RELAY or LEADER + the operation), its body in buf: the fields, then the client's session. */
static tr_msg routed(const tr_msg *m, uint32_t type, const int64_t *f, uint32_t n, uint8_t *buf) {
    tr_msg r = *m;
    tr_mp_writer w;
    tr_mp_writer_init(&w, buf, ROUTE_BODY_MAX);
    tr_mp_write_array(&w, n + 3);
    for (uint32_t i = 0; i < n; i++) {
        tr_mp_write_int(&w, f[i]);
    }
    tr_mp_write_uint(&w, m->from.node);
    tr_mp_write_uint(&w, m->from.actor);
    tr_mp_write_uint(&w, m->corr);
    r.type = type + op_of(m->type) - TR__LINKV_READ;
    r.body = buf;
    r.body_len = w.len;
    return r;
}

/* The leader is silent but not held down: the request goes to it (`to`) and through every
 * other replica, each copy answered only when done. TR_EUNREACH when even the leader's copy
 * could not be sent (then none was). */
static int route_around(linkv *s, tr_ctx *ctx, const tr_msg *m, int leader, const char *to,
                        const int64_t *f, uint32_t n) {
    uint8_t buf[ROUTE_BODY_MAX];
    char peer[TR_NAME_MAX + 1];
    tr_msg r = routed(m, TR__LINKV_LEADER, f, n, buf);
    int rc = tr_forward(ctx, &r, to);
    for (uint32_t i = 0; i < s->arg.node_count && rc == 0; i++) {
        if (i != s->arg.node_index && (int)i != leader) {
            r = routed(m, TR__LINKV_RELAY, f, n, buf);
            snprintf(peer, sizeof peer, "%s@%s", TR__LINKV_NAME, s->arg.names[i]);
            (void)tr_forward(ctx, &r, peer);
        }
    }
    return rc;
}

static bool leader_silent(const linkv *s) {
    tr_raft_status st;
    tr_raft_status_get(&s->raft, &st);
    return st.leader_silent_ticks > SILENT_TICKS;
}

/* Not the leader: hand the request to the one we know, once (around it when it is silent);
 * with none known, wait. */
static int redirect(linkv *s, tr_ctx *ctx, const tr_msg *m, int rc, const int64_t *f, uint32_t n) {
    int leader = tr_raft_leader(&s->raft);
    char to[TR_NAME_MAX + 1];
    bool local = m->from.node == tr_self(ctx).node;
    if (rc == TR_EAGAIN && leader < 0 && local && hold(s, ctx, m, -1)) {
        return TR_CONTINUE;
    }
    if (rc == TR_EAGAIN && leader >= 0 && leader != (int)s->arg.node_index && local) {
        snprintf(to, sizeof to, "%s@%s", TR__LINKV_NAME, s->arg.names[leader]);
        int sent =
            leader_silent(s) ? route_around(s, ctx, m, leader, to, f, n) : tr_forward(ctx, m, to);
        if (sent == 0 || (sent == TR_EUNREACH && hold(s, ctx, m, leader))) {
            return TR_CONTINUE;
        }
    }
    /* not the leader: the value names the one known (a caller on another node asks it) */
    answer(ctx, m, rc == TR_EFULL ? TR__LINKV_BUSY : TR__LINKV_NO_LEADER, leader >= 0, leader);
    return TR_CONTINUE;
}

/* A routed copy this replica could not handle: a RELAY goes on to our leader as LEADER (once:
 * a LEADER copy is never handed on); otherwise it is dropped unanswered. */
static int pass_on(linkv *s, tr_ctx *ctx, const tr_msg *m) {
    int leader = tr_raft_leader(&s->raft);
    if (m->type >= TR__LINKV_RELAY && m->type < TR__LINKV_LEADER && leader >= 0 &&
        leader != (int)s->arg.node_index) {
        char to[TR_NAME_MAX + 1];
        tr_msg r = *m;
        r.type = m->type - TR__LINKV_RELAY + TR__LINKV_LEADER;
        snprintf(to, sizeof to, "%s@%s", TR__LINKV_NAME, s->arg.names[leader]);
        (void)tr_forward(ctx, &r, to);
    }
    return TR_CONTINUE;
}

/* A request of any route: [key, a, b] as the operation takes them, and for a routed copy the
 * client's node, actor and correlation id after them. */
static int on_request(linkv *s, tr_ctx *ctx, const tr_msg *m) {
    uint32_t op = op_of(m->type);
    bool routed_copy = op != m->type;
    int64_t f[3] = {0};
    uint64_t who[3] = {m->from.node, m->from.actor, m->corr};
    uint32_t n = 0, want = op == TR__LINKV_READ ? 1 : op == TR__LINKV_WRITE ? 2 : 3;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    tr_mp_read_array(&r, &n);
    for (uint32_t i = 0; i < want && n == want + (routed_copy ? 3 : 0); i++) {
        tr_mp_read_int(&r, &f[i]);
    }
    for (uint32_t i = 0; i < 3 && routed_copy && n == want + 3; i++) {
        tr_mp_read_uint(&r, &who[i]);
    }
    bool ok = tr_mp_reader_done(&r) == 0 && n == want + (routed_copy ? 3 : 0) && f[0] >= 0 &&
              f[0] < TR__LINKV_KEYS && who[0] <= UINT32_MAX && who[1] != 0;
    if (!ok) {
        if (!routed_copy) {
            answer(ctx, m, TR__LINKV_BAD, false, 0);
        }
        return TR_CONTINUE;
    }
    int rc;
    if (op == TR__LINKV_READ) {
        rc = tr_raft_read(&s->raft, ctx, m);
    } else {
        uint8_t cmd[80];
        tr_mp_writer w;
        tr_mp_writer_init(&w, cmd, sizeof cmd);
        tr_mp_write_array(&w, 7);
        tr_mp_write_int(&w, op);
        for (int i = 0; i < 3; i++) {
            tr_mp_write_int(&w, f[i]);
        }
        for (int i = 0; i < 3; i++) {
            tr_mp_write_uint(&w, who[i]); /* the client's session */
        }
        rc = tr_raft_propose(&s->raft, ctx, m, cmd, w.len);
    }
    return rc == 0       ? TR_CONTINUE
           : routed_copy ? pass_on(s, ctx, m)
                         : redirect(s, ctx, m, rc, f, want);
}

/* member [node, add]: a change of the Raft configuration, answered by the leader only. */
static int on_member(linkv *s, tr_ctx *ctx, const tr_msg *m) {
    uint64_t node = 0;
    bool add = false;
    uint32_t n = 0;
    tr_mp_reader r;
    tr_mp_reader_init(&r, m->body, m->body_len);
    tr_mp_read_array(&r, &n);
    tr_mp_read_uint(&r, &node);
    tr_mp_read_bool(&r, &add);
    if (n != 2 || tr_mp_reader_done(&r) != 0 || node >= s->arg.node_count) {
        answer(ctx, m, TR__LINKV_BAD, false, 0);
        return TR_CONTINUE;
    }
    int rc = tr_raft_change(&s->raft, ctx, m, (uint32_t)node, add);
    int leader = tr_raft_leader(&s->raft);
    if (rc != 0) {
        answer(ctx, m, member_code(rc), rc == TR_EAGAIN && leader >= 0, leader);
    }
    return TR_CONTINUE;
}

/* After Raft's messages: a waiting request goes on once a leader other than the one it could
 * not reach is known, or is refused when its time is up. */
static void retry_waiting(linkv *s, tr_ctx *ctx) {
    waiting now[WAIT_MAX];
    uint32_t n = s->wait_count, kept = 0;
    uint64_t ms = tr_now_ms(ctx);
    int32_t leader = tr_raft_leader(&s->raft);
    memcpy(now, s->wait, n * sizeof now[0]);
    s->wait_count = 0;
    for (uint32_t i = 0; i < n; i++) {
        now[i].req.body = now[i].body;
        if (ms >= now[i].until_ms) {
            answer(ctx, &now[i].req, TR__LINKV_NO_LEADER, false, 0);
        } else if (leader >= 0 && leader != now[i].stale) {
            s->until_ms = now[i].until_ms; /* if it waits again, it keeps its deadline */
            (void)on_request(s, ctx, &now[i].req);
            s->until_ms = 0;
        } else {
            now[kept++] = now[i];
        }
    }
    for (uint32_t i = 0; i < kept; i++) {
        if (s->wait_count < WAIT_MAX) {
            s->wait[s->wait_count++] = now[i];
        } else {
            answer(ctx, &now[i].req, TR__LINKV_BUSY, false, 0);
        }
    }
}

/* ---- the leader log (linkv.h) ---------------------------------------------------------- */

/* Appends (term, leader) when either changed since the last entry, and stores the log. */
static void note_leader(linkv *s, tr_ctx *ctx) {
    tr_raft_status st;
    tr_raft_status_get(&s->raft, &st);
    tr__linkv_leaders *l = &s->leaders;
    const tr__linkv_leader_seen *last =
        l->count ? &l->seen[(l->count - 1) % TR__LINKV_LEADERS_MAX] : NULL;
    if (last ? last->term == st.term && last->leader == st.leader : st.leader < 0) {
        return;
    }
    l->seen[l->count++ % TR__LINKV_LEADERS_MAX] =
        (tr__linkv_leader_seen){.term = st.term, .leader = st.leader, .ms = tr_now_ms(ctx)};
    (void)tr_kv_put(ctx, TR__LINKV_LEADERS_KEY, 2, l, sizeof *l);
}

static int receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    linkv *s = state;
    if (tr_raft_receive(&s->raft, ctx, m)) {
        note_leader(s, ctx);
        if (s->wait_count > 0) {
            retry_waiting(s, ctx);
        }
        return TR_CONTINUE;
    }
    if (tr_msg_is_reply(m)) {
        return TR_CONTINUE;
    }
    if (m->type == TR__LINKV_STATE) {
        uint8_t buf[TR__LINKV_KEYS * 9 + 8];
        tr_mp_writer w;
        tr_mp_writer_init(&w, buf, sizeof buf);
        if (write_table(s, &w) == 0) {
            (void)tr_reply(ctx, m, TR__LINKV_STATE, buf, w.len);
        }
        return TR_CONTINUE;
    }
    if (m->type == TR__LINKV_MEMBER) {
        return on_member(s, ctx, m);
    }
    uint32_t op = op_of(m->type);
    if (op >= TR__LINKV_READ && op <= TR__LINKV_CAS) {
        return on_request(s, ctx, m);
    }
    return TR_CONTINUE;
}

static int init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    linkv *s = state;
    if (len != sizeof s->arg) {
        return TR_EINVAL;
    }
    memcpy(&s->arg, arg, len);
    const char *names[TR_RAFT_NODES_MAX];
    for (uint32_t i = 0; i < TR_RAFT_NODES_MAX; i++) {
        s->arg.names[i][TR_NAME_MAX] = '\0';
        names[i] = s->arg.names[i];
    }
    tr_raft_config cfg;
    tr_raft_config_init(&cfg);
    cfg.node_index = s->arg.node_index;
    cfg.node_count = s->arg.node_count;
    cfg.node_names = names;
    cfg.name = TR__LINKV_NAME;
    cfg.msg_base = TR__LINKV_RAFT_BASE;
    cfg.bugs = s->arg.bugs;
    cfg.ud = s;
    cfg.apply = apply;
    cfg.snapshot = snapshot;
    cfg.restore = restore;
    cfg.done = done;
    int rc = tr_raft_init(&s->raft, ctx, &cfg);
    size_t n = 0;
    if (rc == 0 &&
        (tr_kv_get(ctx, TR__LINKV_LEADERS_KEY, 2, &s->leaders, sizeof s->leaders, &n) != 0 ||
         n != sizeof s->leaders)) {
        memset(&s->leaders, 0, sizeof s->leaders); /* none yet, or no store */
    }
    return rc;
}

const tr_behaviour tr__linkv_behaviour = {"linkv", sizeof(linkv), init, receive, NULL};
