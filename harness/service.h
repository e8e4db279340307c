/* service.h — the host side of services (troupe.h, "Services"): checking a descriptor,
 * loading a module, booting a service's actors on a node.
 *
 * A module is a shared object built without libtroupe: it takes every tr_* function from
 * the program that loads it (the troupe binary exports exactly troupe.h's functions), so
 * there is one runtime in the process. tr_service_load refuses a module that defines the
 * runtime's functions itself.
 *
 * Booting on a real node spawns the actors placed there and waits until each has run its
 * init: an init that fails makes the boot fail with its error after the actors already
 * started are stopped and their names are free again, so a node is never left with half a
 * service. On a simulated node (env->simulated) boot runs inside the simulation's own boot
 * hook, where no actor can run yet: it spawns and returns, and an init failure shows as that
 * actor stopping with its reason.
 *
 * Limits: TR_SERVICE_ACTORS_MAX actors, TR__SERVICE_REQUESTS_MAX requests,
 * TR_SERVICE_CHECKS_MAX checks, TR__SERVICE_FAULTS_MAX fault kinds, TR__SERVICE_BUGS_MAX
 * planted bugs per service; a spawn argument of at most TR__SERVICE_ARG_MAX bytes.
 * Threading: validate and load from any thread (load serialises on dlopen's own lock); boot
 * on a real node from a plain thread (never an actor's callback: it waits for the inits). */
#ifndef TR_HARNESS_SERVICE_H
#define TR_HARNESS_SERVICE_H

#include <stddef.h>

#include "troupe.h"

#define TR__SERVICE_REQUESTS_MAX 256
#define TR__SERVICE_FAULTS_MAX 16
#define TR__SERVICE_BUGS_MAX 32
#define TR__SERVICE_ARG_MAX 65536
/* A real node's boot waits at most this long for the inits of the service's actors. */
#define TR__SERVICE_BOOT_WAIT_MS 10000

/* tr_service_boot, saying in err[0..err_cap) (may be NULL) which actor failed and why. */
int tr__service_boot_why(const tr_service *svc, tr_node *node, const tr_service_env *env, char *err,
                         size_t err_cap);
/* True when the actor `a` of a service runs on the node env describes (its placement). */
bool tr__service_places(const tr_service_actor *a, const tr_service_env *env);
/* The request type called `name` in svc: 0 and *type, or TR_ENOENT. */
int tr__service_request_type(const tr_service *svc, const char *name, uint32_t *type);

#endif
