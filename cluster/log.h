/*
 * log.h — the cluster's structured log lines, and the wall clock they are stamped with.
 *
 * What: one line per event on stderr, "ts=SEC.MS level=L node=N key=value ...", written
 * with a single write(2) so that lines from several threads never interleave. The level is
 * one of debug, info, warn, error.
 *
 * Why here: the cluster's protocol core (frame, handshake, membership) reads no clock; the
 * transport reads its loop's monotonic clock (uv_now) for every timeout. The few wall-clock
 * reads the cluster needs (a log line's timestamp, a deadline for pthread_cond_timedwait,
 * a node's incarnation) are all in this module.
 * Threading: every function may be called from any thread.
 */
#ifndef TR_CLUSTER_LOG_H
#define TR_CLUSTER_LOG_H

#include <stdint.h>

struct timespec;

/* One log line: "ts=... level=L node=N " + the formatted rest (node NULL prints "-"). A
 * line longer than 1 KiB is cut. */
void tr__log_write(const char *level, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The rank of a level name, for filtering: debug 0, info 1, warn 2, error (or other) 3. */
static inline int tr__log_rank(const char *level) {
    return level[0] == 'd' ? 0 : level[0] == 'i' ? 1 : level[0] == 'w' ? 2 : 3;
}

/* The CLOCK_REALTIME time timeout_ms from now, for pthread_cond_timedwait. */
void tr__log_realtime_deadline(struct timespec *ts, uint32_t timeout_ms);

/* Wall-clock milliseconds since the Unix epoch (a node's incarnation: a restarted node
 * gets a larger one). */
uint64_t tr__log_realtime_ms(void);

#endif
