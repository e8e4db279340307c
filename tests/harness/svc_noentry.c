/* svc_noentry.c — a shared object that is not a troupe service: no troupe_service_v1. */
int svc_noentry_answer(void);

int svc_noentry_answer(void) {
    return 42;
}
