/* check_pubsub_queues.c — the pubsub check "bounded-queues" (harness/builtin_pubsub.h): no
 * broker let one subscriber hold more than TR_TOPICS_QUEUE_MAX unacknowledged events. Each
 * broker counts the most a subscriber of its topics ever held (tr_topics_stats.queue_high);
 * the runner's final-state request asks every up node's broker for its STATS after the heal
 * and the quiet period, and this check reads the answers. */
#include <stdio.h>

#include "harness/builtin_pubsub.h"

/* Whether a broker's high-water mark is within the bound a home promises its subscribers. */
static bool within_bound(uint64_t queue_high) {
    return queue_high <= TR_TOPICS_QUEUE_MAX;
}

tr_verdict tr__pubsub_check_bounded_queues(const tr_check_input *in, char *why, size_t cap) {
    tr_verdict v = TR_VERDICT_HELD;
    uint64_t high = 0;
    uint32_t read = 0;
    for (uint32_t k = 0; k < in->node_count; k++) {
        tr_topics_stats st;
        if (in->states == NULL || in->states[k] == NULL) {
            continue; /* down at the end, or no answer: that broker's mark is not known */
        }
        if (tr_topics_stats_read(in->states[k], in->state_lens[k], &st) != 0) {
            snprintf(why, cap, "n%u's broker answered a malformed STATS", k + 1);
            return TR_VERDICT_UNKNOWN;
        }
        read++;
        high = st.queue_high > high ? st.queue_high : high;
        if (v == TR_VERDICT_HELD && !within_bound(st.queue_high)) {
            v = TR_VERDICT_VIOLATED;
            snprintf(why, cap,
                     "n%u's broker let one subscriber hold %llu unacknowledged events (bound %u)",
                     k + 1, (unsigned long long)st.queue_high, TR_TOPICS_QUEUE_MAX);
        }
    }
    tr_check_measure(in, "queue_high", (double)high);
    if (v == TR_VERDICT_HELD && read == 0) {
        snprintf(why, cap, "no broker answered the final STATS request");
        return TR_VERDICT_UNKNOWN;
    }
    if (v == TR_VERDICT_HELD) {
        snprintf(why, cap, "no subscriber held more than %u unacknowledged events (most %llu)",
                 TR_TOPICS_QUEUE_MAX, (unsigned long long)high);
    }
    return v;
}
