/* builtin_catalog.h — the catalog as a service: the descriptor of actors/catalog.h ("catalog"
 * on every node; requests get, put and stats). `troupe node --builtins catalog` hosts it, and
 * `troupe node --http ADDR` hosts it always (the gateway's product routes read and write it).
 * No workload or checks yet. Everything here uses troupe.h and actors/ only. */
#ifndef TR_HARNESS_BUILTIN_CATALOG_H
#define TR_HARNESS_BUILTIN_CATALOG_H

#include "troupe.h"

extern const tr_service tr__builtin_catalog;

#endif
