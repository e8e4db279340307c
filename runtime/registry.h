/*
 * registry.h — a node's names: name -> address of a local actor (runtime/registry.c).
 *
 * A chained hash table under one mutex (node->reg_lock): lookups are rare on the message
 * path (names are resolved once, then addresses are used). A name is removed only if it
 * still points to the actor that is going away, so a restarted actor that re-registered its
 * name is never unregistered by its predecessor's death. Every function may be called from
 * any thread.
 *
 * Invariants (tr__registry_check): the bucket count is a power of two; every entry sits in
 * the bucket of its name's hash; names are unique, non-empty and at most TR_NAME_MAX bytes;
 * reg_count is the number of entries; every address is on this node.
 */
#ifndef TR_REGISTRY_H
#define TR_REGISTRY_H

#include <stdbool.h>

#include "troupe.h"

typedef struct tr_name_entry {
    char name[TR_NAME_MAX + 1];
    tr_addr addr;
    struct tr_name_entry *next;
} tr_name_entry;

/* Allocates the table (node->reg_*). 0 or TR_ENOMEM. */
int tr__registry_init(tr_node *node);
/* Frees every entry and the table. */
void tr__registry_deinit(tr_node *node);
/* Binds name (copied) to who. TR_EEXIST if the name is taken by a live actor (or by any
 * actor when replace_dead is false), TR_EINVAL for a bad name, TR_ENOMEM. */
int tr__registry_add(tr_node *node, const char *name, tr_addr who, bool replace_dead);
/* Unbinds name if it still points to who. */
void tr__registry_remove_if(tr_node *node, const char *name, tr_addr who);
/* The live actor bound to name: 0, or TR_ENOENT (unbound, or bound to a dead actor). */
int tr__registry_find(tr_node *node, const char *name, tr_addr *out);
/* Unbinds every name. */
void tr__registry_clear(tr_node *node);
/* Walks the invariants above (TR_ASSERT each). Returns true. */
bool tr__registry_check(tr_node *node);
/* A name registered for `who` (the first in bucket order), copied into out (TR_NAME_MAX + 1
 * bytes): 0, or TR_ENOENT. Scans every name: for traces, not for a hot path. */
int tr__registry_name_of(tr_node *node, tr_addr who, char *out);

#endif /* TR_REGISTRY_H */
