/* builtin_linkv.h — lin-kv as a service: the descriptor of actors/linkv.h (a linearizable
 * key-value store on Raft: read, write, compare-and-set through any node), its workload and
 * its check (the cas-register model, key by key). `troupe sim --workload lin-kv` runs it
 * through the experiment runner; it also builds as zig-out/lib/troupe-lin-kv.so. Planted
 * bugs: stale-leader-read (a leader answers reads without asking a majority, and keeps
 * leading when cut off), early-commit (the leader commits before a majority has an entry). */
#ifndef TR_HARNESS_BUILTIN_LINKV_H
#define TR_HARNESS_BUILTIN_LINKV_H

#include "troupe.h"

extern const tr_service tr__builtin_linkv;

#endif
