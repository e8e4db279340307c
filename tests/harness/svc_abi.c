/* svc_abi.c — a module built for a service ABI this troupe does not host: the loader must
 * refuse it, naming both numbers, before it looks at anything else in the descriptor. */
#include "troupe.h"

static const tr_service service = {.abi = TR_SERVICE_ABI + 1, .name = "svc-abi"};

const tr_service *troupe_service_v1(void) {
    return &service;
}
