/*
 * breaker.c — a circuit breaker per dependency (troupe.h, "Resilience"; docs/resilience.md).
 *
 * A pure state machine over the caller's memory: time comes in as an argument, so the same
 * breaker runs in an actor (tr_now_ms) and on a gateway's loop thread, and a simulated run
 * stays a function of its seed. Invariants (tr_breaker_check_ walks them):
 *   1. probes_out_ <= half_open_probes and probes_ok_ < half_open_probes, both 0 unless
 *      HALF_OPEN;
 *   2. consecutive_ counts only while CLOSED (0 in the other states);
 *   3. opened_ <= transitions_.
 * The window is a ring of TR_BREAKER_BUCKETS buckets, each for one slot of window_ms /
 * TR_BREAKER_BUCKETS ms; a bucket whose slot is older than the window is stale and counts 0.
 */
#include <string.h>

#include "runtime/assert.h"
#include "troupe.h"

static bool config_valid(const tr_breaker_config *c) {
    bool ratio_on = c->failure_ratio != 0.0;
    if (c->consecutive_failures == 0 && !ratio_on) {
        return false;
    }
    if (ratio_on && (!(c->failure_ratio > 0.0 && c->failure_ratio <= 1.0) ||
                     c->window_ms < TR_BREAKER_BUCKETS)) {
        return false;
    }
    return c->open_ms > 0 && c->half_open_probes > 0;
}

static void breaker_check(const tr_breaker *b) {
    TR_ASSERT(b->probes_out_ <= b->cfg_.half_open_probes);
    TR_ASSERT(b->state_ == TR_BREAKER_HALF_OPEN || (b->probes_out_ == 0 && b->probes_ok_ == 0));
    TR_ASSERT(b->state_ == TR_BREAKER_CLOSED || b->consecutive_ == 0);
    TR_ASSERT(b->opened_ <= b->transitions_);
}

void tr_breaker_config_init(tr_breaker_config *cfg) {
    TR_ASSERT(cfg != NULL);
    *cfg = (tr_breaker_config){
        .consecutive_failures = 5,
        .failure_ratio = 0.5,
        .window_ms = 10000,
        .window_min_calls = 10,
        .open_ms = 5000,
        .half_open_probes = 1,
    };
}

int tr_breaker_init(tr_breaker *b, const tr_breaker_config *cfg, uint64_t now_ms) {
    if (b == NULL || cfg == NULL || !config_valid(cfg)) {
        return TR_EINVAL;
    }
    memset(b, 0, sizeof *b);
    b->cfg_ = *cfg;
    b->state_ = TR_BREAKER_CLOSED;
    b->changed_at_ms_ = now_ms;
    breaker_check(b);
    return 0;
}

static uint64_t slot_ms(const tr_breaker *b) {
    return b->cfg_.window_ms / TR_BREAKER_BUCKETS;
}

/* Sums the buckets whose slot lies in the window that ends at now_ms. */
static void window_sum(const tr_breaker *b, uint64_t now_ms, uint32_t *calls, uint32_t *failed) {
    *calls = 0;
    *failed = 0;
    if (b->cfg_.failure_ratio == 0.0) {
        return;
    }
    uint64_t now_slot = now_ms / slot_ms(b);
    for (uint32_t i = 0; i < TR_BREAKER_BUCKETS; i++) {
        const tr_breaker_bucket_ *k = &b->buckets_[i];
        if (k->slot <= now_slot && now_slot - k->slot < TR_BREAKER_BUCKETS) {
            *calls += k->ok + k->failed;
            *failed += k->failed;
        }
    }
}

static void window_add(tr_breaker *b, uint64_t now_ms, bool ok) {
    if (b->cfg_.failure_ratio == 0.0) {
        return;
    }
    uint64_t now_slot = now_ms / slot_ms(b);
    tr_breaker_bucket_ *k = &b->buckets_[now_slot % TR_BREAKER_BUCKETS];
    if (k->slot != now_slot) {
        *k = (tr_breaker_bucket_){.slot = now_slot};
    }
    if (ok) {
        k->ok++;
    } else {
        k->failed++;
    }
}

static void set_state(tr_breaker *b, tr_breaker_state to, uint64_t now_ms) {
    TR_ASSERT(to != b->state_);
    b->state_ = to;
    b->changed_at_ms_ = now_ms;
    b->transitions_++;
    b->probes_out_ = 0;
    b->probes_ok_ = 0;
    b->consecutive_ = 0;
    if (to == TR_BREAKER_OPEN) {
        b->opened_++;
    } else if (to == TR_BREAKER_CLOSED) {
        memset(b->buckets_, 0, sizeof b->buckets_); /* a closed breaker starts afresh */
    }
}

static bool trips(const tr_breaker *b, uint64_t now_ms) {
    if (b->cfg_.consecutive_failures != 0 && b->consecutive_ >= b->cfg_.consecutive_failures) {
        return true;
    }
    uint32_t calls, failed;
    window_sum(b, now_ms, &calls, &failed);
    return calls != 0 && calls >= b->cfg_.window_min_calls &&
           (double)failed >= b->cfg_.failure_ratio * (double)calls;
}

static bool open_elapsed(const tr_breaker *b, uint64_t now_ms) {
    return now_ms >= b->changed_at_ms_ && now_ms - b->changed_at_ms_ >= b->cfg_.open_ms;
}

int tr_breaker_allow(tr_breaker *b, uint64_t now_ms) {
    TR_ASSERT(b != NULL);
    if (b->state_ == TR_BREAKER_OPEN && open_elapsed(b, now_ms)) {
        set_state(b, TR_BREAKER_HALF_OPEN, now_ms);
    }
    if (b->state_ == TR_BREAKER_HALF_OPEN && b->probes_out_ > 0 &&
        b->probes_out_ + b->probes_ok_ == b->cfg_.half_open_probes && open_elapsed(b, now_ms)) {
        /* every probe is spent and no decision came within open_ms: the ones out failed */
        set_state(b, TR_BREAKER_OPEN, now_ms);
    }
    int rc = 0;
    if (b->state_ == TR_BREAKER_OPEN) {
        rc = TR_EAGAIN;
    } else if (b->state_ == TR_BREAKER_HALF_OPEN) {
        if (b->probes_out_ + b->probes_ok_ < b->cfg_.half_open_probes) {
            b->probes_out_++;
        } else {
            rc = TR_EAGAIN;
        }
    }
    if (rc != 0) {
        b->rejected_++;
    }
    breaker_check(b);
    return rc;
}

static void record_half_open(tr_breaker *b, uint64_t now_ms, bool ok) {
    if (b->probes_out_ > 0) {
        b->probes_out_--;
    }
    if (!ok) {
        set_state(b, TR_BREAKER_OPEN, now_ms);
        return;
    }
    b->probes_ok_++;
    if (b->probes_ok_ >= b->cfg_.half_open_probes) {
        set_state(b, TR_BREAKER_CLOSED, now_ms);
    }
}

void tr_breaker_record(tr_breaker *b, uint64_t now_ms, bool ok) {
    TR_ASSERT(b != NULL);
    if (ok) {
        b->successes_++;
    } else {
        b->failures_++;
    }
    switch (b->state_) {
    case TR_BREAKER_OPEN: b->ignored_++; break;
    case TR_BREAKER_HALF_OPEN: record_half_open(b, now_ms, ok); break;
    case TR_BREAKER_CLOSED:
        b->consecutive_ = ok ? 0 : b->consecutive_ + 1;
        window_add(b, now_ms, ok);
        if (!ok && trips(b, now_ms)) {
            set_state(b, TR_BREAKER_OPEN, now_ms);
        }
        break;
    }
    breaker_check(b);
}

uint64_t tr_breaker_retry_after_ms(const tr_breaker *b, uint64_t now_ms) {
    TR_ASSERT(b != NULL);
    if (b->state_ != TR_BREAKER_OPEN || open_elapsed(b, now_ms)) {
        return 0;
    }
    uint64_t since = now_ms >= b->changed_at_ms_ ? now_ms - b->changed_at_ms_ : 0;
    uint64_t left = b->cfg_.open_ms - since;
    return left > 0 ? left : 1;
}

void tr_breaker_status_get(const tr_breaker *b, uint64_t now_ms, tr_breaker_status *out) {
    TR_ASSERT(b != NULL && out != NULL);
    *out = (tr_breaker_status){
        .state = b->state_,
        .transitions = b->transitions_,
        .opened = b->opened_,
        .rejected = b->rejected_,
        .successes = b->successes_,
        .failures = b->failures_,
        .ignored = b->ignored_,
        .consecutive_failures = b->consecutive_,
        .retry_after_ms = tr_breaker_retry_after_ms(b, now_ms),
    };
    window_sum(b, now_ms, &out->window_calls, &out->window_failures);
}

const char *tr_breaker_state_name(tr_breaker_state s) {
    switch (s) {
    case TR_BREAKER_CLOSED: return "closed";
    case TR_BREAKER_OPEN: return "open";
    case TR_BREAKER_HALF_OPEN: return "half-open";
    }
    return "unknown";
}

int tr_breaker_request_name(tr_ctx *ctx, tr_breaker *b, const char *name, uint32_t type,
                            const void *body, size_t len, uint32_t timeout_ms, uint64_t *corr_out) {
    TR_ASSERT(ctx != NULL && b != NULL);
    uint64_t now = tr_now_ms(ctx);
    int rc = tr_breaker_allow(b, now);
    if (rc != 0) {
        return rc;
    }
    rc = tr_request_name(ctx, name, type, body, len, timeout_ms, corr_out);
    if (rc != 0) {
        tr_breaker_record(b, now, false);
    }
    return rc;
}

void tr_breaker_record_msg(tr_ctx *ctx, tr_breaker *b, const tr_msg *msg) {
    TR_ASSERT(ctx != NULL && b != NULL && msg != NULL);
    tr_breaker_record(b, tr_now_ms(ctx), msg->type != TR_MSG_TIMEOUT);
}
