/* svc_owncopy.c — a module that defines a function of the runtime itself, as one linked with
 * libtroupe does: the loader must refuse it (its actors would run on a second runtime). */
#include "troupe.h"

const char *tr_strerror(int err) {
    return "a second copy";
}

static const tr_service service = {.abi = TR_SERVICE_ABI, .name = "svc-owncopy"};

const tr_service *troupe_service_v1(void) {
    return &service;
}
