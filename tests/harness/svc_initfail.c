/* svc_initfail.c — a service whose second actor fails in init (TR_EIO): booting it must fail
 * with that error and leave no actor of the service behind, the first one included. */
#include "troupe.h"

static int ok_receive(tr_ctx *ctx, void *state, const tr_msg *m) {
    return TR_CONTINUE;
}

static int failing_init(tr_ctx *ctx, void *state, const void *arg, size_t len) {
    return TR_EIO;
}

static const tr_behaviour first_b = {"first", 0, NULL, ok_receive, NULL};
static const tr_behaviour second_b = {"second", 0, failing_init, ok_receive, NULL};

static const tr_service_actor actors[] = {
    {"initfail-first", &first_b, TR_PLACE_EVERY_NODE, NULL, NULL},
    {"initfail-second", &second_b, TR_PLACE_EVERY_NODE, NULL, NULL},
};

static const tr_service service = {
    .abi = TR_SERVICE_ABI, .name = "svc-initfail", .actors = actors, .actor_count = 2};

const tr_service *troupe_service_v1(void) {
    return &service;
}
