/* builtin_catalog.c — the catalog's descriptor (harness/builtin_catalog.h). */
#include "harness/builtin_catalog.h"

#include "actors/catalog.h"

/* The broker first: a catalog replica subscribes to catalog.updated from its init. */
static const tr_service_actor catalog_actors[] = {
    {.name = TR_TOPICS_NAME, .behaviour = &tr_topics_broker, .placement = TR_PLACE_EVERY_NODE},
    {.name = "catalog", .behaviour = &tr__catalog_behaviour, .placement = TR_PLACE_EVERY_NODE}};
static const tr_service_request catalog_requests[] = {
    {"get", TR_CATALOG_GET}, {"put", TR_CATALOG_PUT}, {"stats", TR_CATALOG_STATS}};

const tr_service tr__builtin_catalog = {.abi = TR_SERVICE_ABI,
                                        .name = "catalog",
                                        .actors = catalog_actors,
                                        .actor_count = 2,
                                        .requests = catalog_requests,
                                        .request_count = 3};
