/* builtin.h — troupe's own capabilities as services: one tr_service descriptor each for the
 * actors of actors/ ("echo", "proxy", "kv", the registers "cp" and "ap", and "stock"), and
 * the table of them that `troupe node` hosts and `troupe call` reads for request names.
 *
 * The descriptors are ordinary services (troupe.h, "Services"): `troupe node` boots them with
 * tr_service_boot exactly as it boots a loaded one, and the "cp", "ap" and "stock" ones also
 * build as loadable modules (harness/builtin_module.c: troupe-cp.so, ...). They use only
 * troupe.h and actors/, so the same file compiles into the troupe binary and into a module
 * that takes every tr_* function from its host.
 *
 * Spawn arguments come from tr_service_env: the registers' and stock's peers are
 * env->node_names[0..node_count) (this node included), and env->bug selects a planted bug
 * (the service's `bugs`: cp stale-read, no-write-back; ap no-anti-entropy; stock oversell,
 * double-charge). Everything here is static and lives as long as the program or module. */
#ifndef TR_HARNESS_BUILTIN_H
#define TR_HARNESS_BUILTIN_H

#include "troupe.h"

extern const tr_service tr__builtin_echo;
extern const tr_service tr__builtin_proxy;
extern const tr_service tr__builtin_kv;
/* The cp register's default nemesis: the partition windows, and link loss with the ring and
 * bridge shapes, under which the quorums of different coordinators differ (ap and both keep
 * the partition windows alone: the side-by-side CAP figures are those of one clean split). */
#define TR__REGISTER_NEMESIS \
    (TR_NEMESIS_PARTITION | TR_NEMESIS_LOSS | TR_NEMESIS_RING | TR_NEMESIS_BRIDGE)
extern const tr_service tr__builtin_cp;
extern const tr_service tr__builtin_ap;
extern const tr_service tr__builtin_stock;
extern const tr_service tr__builtin_lock;   /* harness/builtin_lock.h */
extern const tr_service tr__builtin_linkv;  /* harness/builtin_linkv.h */
extern const tr_service tr__builtin_pubsub; /* harness/builtin_pubsub.h */

extern const tr_service tr__builtin_catalog; /* harness/builtin_catalog.h */

extern const tr_service tr__builtin_shop; /* harness/builtin_shop.h */

#define TR__BUILTIN_COUNT 11
/* Every built-in service, in the order a node boots them (echo, proxy, kv, cp, ap, stock,
 * lock: harness/builtin_lock.h, lin-kv: harness/builtin_linkv.h, catalog: harness/builtin_catalog.h, shop:
 * harness/builtin_shop.h). */
extern const tr_service *const tr__builtin_services[TR__BUILTIN_COUNT];

/* The built-in service called `name`, or NULL (name borrowed). */
const tr_service *tr__builtin_find(const char *name);

/* The built-in service run only in the simulator by `troupe sim --workload NAME`: "counter"
 * (harness/builtin_counter.h), "set" (harness/builtin_set.h), "broadcast" (harness/builtin_broadcast.h),
 * or NULL (name borrowed). */
const tr_service *tr__builtin_crdt_find(const char *name);

#endif
