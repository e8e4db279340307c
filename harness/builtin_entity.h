/* builtin_entity.h — the entity service (troupe.h, "Entities"; docs/entities.md) as a
 * workload: an entity type "reg" whose entities are registers (read [id], write [id, v], cas
 * [id, from, to]; answer [code, value] as lin-kv's: 0 ok, 1 mismatch, 2 unset), hosted on
 * every node, with clients on every node going through their own node's host. Checks: the
 * cas-register model id by id, and that the durable state of every id is a value some write
 * or cas attempted (or unset). Declared nemesis: pause, partition, crash. Planted bug
 * no-fencing (TR_ENTITY_BUG_NO_FENCING). `troupe sim --workload entity` runs it; it also
 * builds as zig-out/lib/troupe-entity.so. */
#ifndef TR_HARNESS_BUILTIN_ENTITY_H
#define TR_HARNESS_BUILTIN_ENTITY_H

#include "troupe.h"

enum {
    TR__REG_READ = TR_MSG_USER,
    TR__REG_WRITE,
    TR__REG_CAS,
    TR__REG_MSG_BASE = TR_MSG_USER + 16 /* the host's own types */
};

extern const tr_entity_type tr__reg_type;
extern const tr_service tr__builtin_entity;

#endif
