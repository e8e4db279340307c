/*
 * retry.c — retries with jittered exponential backoff and a per-dependency retry budget
 * (troupe.h, "Resilience"; docs/resilience.md).
 *
 * Pure state machines over the caller's memory: the time and the random number come in as
 * arguments. The budget is a token bucket counted in thousandths of a token, so a ratio of
 * 0.1 deposits 100 and a retry takes 1000; it never holds more than burst x 1000.
 */
#include <string.h>

#include "runtime/assert.h"
#include "troupe.h"

#define MILLI 1000u

static bool policy_valid(const tr_retry_policy *p) {
    return p->max_attempts >= 1 && p->max_attempts <= TR_RETRY_ATTEMPTS_MAX && p->base_ms > 0 &&
           p->max_ms >= p->base_ms &&
           (p->jitter == TR_BACKOFF_FULL || p->jitter == TR_BACKOFF_DECORRELATED);
}

void tr_retry_policy_init(tr_retry_policy *p) {
    TR_ASSERT(p != NULL);
    *p = (tr_retry_policy){.max_attempts = 3, .base_ms = 50, .max_ms = 2000};
}

/* Uniform in [lo, hi] from r (lo <= hi; the modulo bias is below 2^-32 for these spans). */
static uint32_t draw(uint64_t r, uint32_t lo, uint32_t hi) {
    TR_ASSERT(lo <= hi);
    return lo + (uint32_t)(r % ((uint64_t)hi - lo + 1));
}

uint32_t tr_backoff_delay_ms(const tr_retry_policy *p, uint32_t attempt, uint32_t prev_ms,
                             uint64_t random) {
    TR_ASSERT(p != NULL && policy_valid(p));
    TR_ASSERT(attempt >= 1 && attempt <= TR_RETRY_ATTEMPTS_MAX);
    uint32_t d;
    if (p->jitter == TR_BACKOFF_FULL) {
        uint32_t shift = attempt - 1;
        uint64_t ceiling = shift >= 32 ? UINT64_MAX : (uint64_t)p->base_ms << shift;
        d = draw(random, 0, ceiling < p->max_ms ? (uint32_t)ceiling : p->max_ms);
    } else {
        uint64_t hi = prev_ms == 0 ? p->base_ms : 3 * (uint64_t)prev_ms;
        hi = hi < p->base_ms ? p->base_ms : hi;
        d = draw(random, p->base_ms, hi < p->max_ms ? (uint32_t)hi : p->max_ms);
    }
    TR_ASSERT(d <= p->max_ms);
    return d;
}

void tr_retry_budget_config_init(tr_retry_budget_config *cfg) {
    TR_ASSERT(cfg != NULL);
    *cfg = (tr_retry_budget_config){.ratio = 0.1, .burst = 10, .min_per_s = 1};
}

int tr_retry_budget_init(tr_retry_budget *rb, const tr_retry_budget_config *cfg, uint64_t now_ms) {
    if (rb == NULL || cfg == NULL || !(cfg->ratio >= 0.0 && cfg->ratio <= 1.0) || cfg->burst == 0 ||
        cfg->burst > UINT32_MAX / MILLI || cfg->min_per_s > 1000000) {
        return TR_EINVAL;
    }
    memset(rb, 0, sizeof *rb);
    rb->cfg_ = *cfg;
    rb->milli_tokens_ = (uint64_t)cfg->burst * MILLI;
    rb->refilled_at_ms_ = now_ms;
    return 0;
}

/* The tokens rb would hold at now_ms: min_per_s tokens a second are min_per_s thousandths a
 * millisecond. A clock that went back refills nothing. */
static uint64_t tokens_at(const tr_retry_budget *rb, uint64_t now_ms) {
    uint64_t cap = (uint64_t)rb->cfg_.burst * MILLI;
    uint64_t t = rb->milli_tokens_;
    if (now_ms > rb->refilled_at_ms_ && rb->cfg_.min_per_s != 0) {
        uint64_t elapsed = now_ms - rb->refilled_at_ms_;
        uint64_t add = elapsed >= cap ? cap : elapsed * rb->cfg_.min_per_s;
        t = add >= cap - t ? cap : t + add;
    }
    TR_ASSERT(t <= cap);
    return t;
}

static void refill(tr_retry_budget *rb, uint64_t now_ms) {
    rb->milli_tokens_ = tokens_at(rb, now_ms);
    if (now_ms > rb->refilled_at_ms_) {
        rb->refilled_at_ms_ = now_ms;
    }
}

void tr_retry_budget_deposit(tr_retry_budget *rb, uint64_t now_ms) {
    TR_ASSERT(rb != NULL);
    refill(rb, now_ms);
    uint64_t cap = (uint64_t)rb->cfg_.burst * MILLI;
    uint64_t add = (uint64_t)(rb->cfg_.ratio * MILLI + 0.5);
    rb->milli_tokens_ = add >= cap - rb->milli_tokens_ ? cap : rb->milli_tokens_ + add;
    rb->deposits_++;
}

int tr_retry_budget_withdraw(tr_retry_budget *rb, uint64_t now_ms) {
    TR_ASSERT(rb != NULL);
    refill(rb, now_ms);
    if (rb->milli_tokens_ < MILLI) {
        rb->refused_++;
        return TR_EAGAIN;
    }
    rb->milli_tokens_ -= MILLI;
    rb->retries_++;
    return 0;
}

void tr_retry_budget_status_get(const tr_retry_budget *rb, uint64_t now_ms,
                                tr_retry_budget_status *out) {
    TR_ASSERT(rb != NULL && out != NULL);
    *out = (tr_retry_budget_status){
        .tokens = (double)tokens_at(rb, now_ms) / MILLI,
        .deposits = rb->deposits_,
        .retries = rb->retries_,
        .refused = rb->refused_,
    };
}

void tr_retry_start(tr_retry *r, const tr_retry_policy *policy, tr_retry_budget *budget,
                    bool idempotent, uint64_t now_ms) {
    TR_ASSERT(r != NULL && policy != NULL && policy_valid(policy));
    *r =
        (tr_retry){.policy_ = policy, .budget_ = budget, .attempts_ = 1, .idempotent_ = idempotent};
    if (budget != NULL) {
        tr_retry_budget_deposit(budget, now_ms);
    }
}

tr_retry_verdict tr_retry_next(tr_retry *r, uint64_t now_ms, uint64_t deadline_ms, uint64_t random,
                               uint32_t *delay_ms) {
    TR_ASSERT(r != NULL && r->policy_ != NULL && delay_ms != NULL);
    *delay_ms = 0;
    if (!r->idempotent_) {
        return TR_RETRY_NOT_IDEMPOTENT;
    }
    if (r->attempts_ >= r->policy_->max_attempts) {
        return TR_RETRY_ATTEMPTS_SPENT;
    }
    uint32_t d = tr_backoff_delay_ms(r->policy_, r->attempts_, r->prev_delay_ms_, random);
    if (deadline_ms != 0 && now_ms + d >= deadline_ms) {
        return TR_RETRY_DEADLINE;
    }
    if (r->budget_ != NULL && tr_retry_budget_withdraw(r->budget_, now_ms) != 0) {
        return TR_RETRY_BUDGET_SPENT;
    }
    r->attempts_++;
    r->prev_delay_ms_ = d;
    *delay_ms = d;
    return TR_RETRY_AGAIN;
}

const char *tr_retry_verdict_name(tr_retry_verdict v) {
    switch (v) {
    case TR_RETRY_AGAIN: return "again";
    case TR_RETRY_NOT_IDEMPOTENT: return "not-idempotent";
    case TR_RETRY_ATTEMPTS_SPENT: return "attempts-spent";
    case TR_RETRY_DEADLINE: return "deadline";
    case TR_RETRY_BUDGET_SPENT: return "budget-spent";
    }
    return "unknown";
}
