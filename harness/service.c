/* service.c — checking, loading and booting services (harness/service.h). */
#include "harness/service.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness/nemesis.h"
#include "runtime/assert.h"

/* Built-in nemesis kinds: a service's own fault kind may not take one of these names. */
static const char *const builtin_faults[] = {"partition", "crash", "pause", "clock",
                                             "delay",     "loss",  "dup",   "reorder"};

static int fail(char *err, size_t cap, const char *fmt, ...) {
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return TR_EINVAL;
}

/* [a-z0-9-], 1..max bytes. */
static bool word_ok(const char *s, size_t max) {
    size_t n = s ? strnlen(s, max + 1) : 0;
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return false;
        }
    }
    return true;
}

/* A registry name: 1..TR_NAME_MAX printable bytes, no space, '@' (it separates the node) or
 * ',' (it separates node lists). */
static bool reg_name_ok(const char *s, size_t n) {
    if (n == 0 || n > TR_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '@' || c == ',') {
            return false;
        }
    }
    return true;
}

static bool cstr_reg_name_ok(const char *s) {
    return s && reg_name_ok(s, strnlen(s, TR_NAME_MAX + 1));
}

/* "n1,n2": 1..TR_SIM_NODES_MAX names, each a registry name. */
static bool node_list_ok(const char *list) {
    if (!list || !*list || strnlen(list, 4096) == 4096) {
        return false;
    }
    uint32_t count = 0;
    for (const char *s = list;; count++) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (!reg_name_ok(s, n) || count == TR_SIM_NODES_MAX) {
            return false;
        }
        if (!end) {
            return true;
        }
        s = end + 1;
    }
}

static bool all_digits(const char *s) {
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
    }
    return true;
}

static int validate_actors(const tr_service *svc, char *err, size_t cap) {
    if (svc->actor_count > TR_SERVICE_ACTORS_MAX) {
        return fail(err, cap, "service '%s': %u actors (at most %d)", svc->name, svc->actor_count,
                    TR_SERVICE_ACTORS_MAX);
    }
    if (svc->actor_count && !svc->actors) {
        return fail(err, cap, "service '%s': actor_count is %u but actors is NULL", svc->name,
                    svc->actor_count);
    }
    for (uint32_t i = 0; i < svc->actor_count; i++) {
        const tr_service_actor *a = &svc->actors[i];
        if (!cstr_reg_name_ok(a->name)) {
            return fail(err, cap,
                        "service '%s': actor %u has no valid name (1..%d bytes, no space, '@' "
                        "or ',')",
                        svc->name, i, TR_NAME_MAX);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (!strcmp(svc->actors[j].name, a->name)) {
                return fail(err, cap, "service '%s': two actors are named '%s'", svc->name,
                            a->name);
            }
        }
        if (!a->behaviour || !a->behaviour->receive) {
            return fail(err, cap,
                        "service '%s': actor '%s' has no behaviour with a receive "
                        "callback",
                        svc->name, a->name);
        }
        if (a->behaviour->init == tr_service_place_init &&
            (a->arg || a->behaviour->state_size < sizeof(tr_service_place))) {
            return fail(err, cap,
                        "service '%s': actor '%s' uses tr_service_place_init: it needs the "
                        "default argument (arg NULL) and a state of at least %zu bytes",
                        svc->name, a->name, sizeof(tr_service_place));
        }
        if (a->placement == TR_PLACE_EVERY_NODE) {
            if (a->nodes) {
                return fail(err, cap,
                            "service '%s': actor '%s' runs on every node but lists nodes "
                            "(use TR_PLACE_NAMED_NODES)",
                            svc->name, a->name);
            }
        } else if (a->placement == TR_PLACE_NAMED_NODES) {
            if (!node_list_ok(a->nodes)) {
                return fail(err, cap,
                            "service '%s': actor '%s' wants named nodes but its list '%.64s' "
                            "is not 1..%d comma-separated node names",
                            svc->name, a->name, a->nodes ? a->nodes : "", TR_SIM_NODES_MAX);
            }
        } else {
            return fail(err, cap, "service '%s': actor '%s' has an unknown placement %d", svc->name,
                        a->name, (int)a->placement);
        }
    }
    return 0;
}

/* A workload's callbacks, or its table of operations in their place. */
static int validate_workload(const tr_service *svc, char *err, size_t cap) {
    const tr_workload *w = svc->workload;
    if (!w || (w->next && w->complete)) {
        return 0; /* the table is read only in place of a callback */
    }
    if (w->op_count == 0) {
        return fail(err, cap,
                    "service '%s': its workload needs both next and complete, or a table "
                    "of operations (ops)",
                    svc->name);
    }
    if (w->op_count > TR_WORKLOAD_OPS_MAX || (w->op_count && !w->ops)) {
        return fail(err, cap, "service '%s': its workload has %u operations (1..%d, and ops set)",
                    svc->name, w->op_count, TR_WORKLOAD_OPS_MAX);
    }
    for (uint32_t i = 0; i < w->op_count; i++) {
        const tr_workload_op_spec *o = &w->ops[i];
        if (!word_ok(o->f, TR_HISTORY_NAME_MAX) || o->f[0] < 'a' || o->type < TR_MSG_USER ||
            o->type >= 0xFFFF0000u || (o->write && o->value_min > o->value_max)) {
            return fail(err, cap,
                        "service '%s': workload operation %u needs a name ([a-z0-9-], 1..%d "
                        "bytes, a letter first), a user request type and, for a write, "
                        "value_min <= value_max",
                        svc->name, i, TR_HISTORY_NAME_MAX);
        }
    }
    if (!w->next &&
        ((w->target && !cstr_reg_name_ok(w->target)) || (!w->target && svc->actor_count == 0))) {
        return fail(err, cap,
                    "service '%s': its workload's target is not an actor name (NULL: the "
                    "first actor, and it has none)",
                    svc->name);
    }
    return 0;
}

/* True when every bit of kinds is a built-in nemesis kind: a round trip through the kinds'
 * names drops any other bit. */
static bool nemesis_known(uint32_t kinds) {
    char names[512];
    uint32_t back = 0;
    tr__nemesis_format(kinds, names, sizeof names);
    return tr__nemesis_parse(names, &back, NULL, 0, NULL, 0) == 0 && back == kinds;
}

static int validate_requests(const tr_service *svc, char *err, size_t cap) {
    if (svc->request_count > TR__SERVICE_REQUESTS_MAX) {
        return fail(err, cap, "service '%s': %u requests (at most %d)", svc->name,
                    svc->request_count, TR__SERVICE_REQUESTS_MAX);
    }
    if (svc->request_count && !svc->requests) {
        return fail(err, cap, "service '%s': request_count is %u but requests is NULL", svc->name,
                    svc->request_count);
    }
    for (uint32_t i = 0; i < svc->request_count; i++) {
        const tr_service_request *r = &svc->requests[i];
        if (!cstr_reg_name_ok(r->name) || all_digits(r->name)) {
            return fail(err, cap,
                        "service '%s': request %u has no valid name (1..%d bytes, not a "
                        "number)",
                        svc->name, i, TR_NAME_MAX);
        }
        if (r->type < TR_MSG_USER || r->type >= 0xFFFF0000u) {
            return fail(err, cap, "service '%s': request '%s' has type %u (user types are %d..%u)",
                        svc->name, r->name, r->type, TR_MSG_USER, 0xFFFEFFFFu);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (!strcmp(svc->requests[j].name, r->name)) {
                return fail(err, cap, "service '%s': two requests are named '%s'", svc->name,
                            r->name);
            }
        }
    }
    return 0;
}

static int validate_checks(const tr_service *svc, char *err, size_t cap) {
    const tr_lin_model *m = svc->lin_model;
    if (m && (!m->name || !m->init || !m->step || m->state_size == 0 || m->state_size > 64)) {
        return fail(err, cap,
                    "service '%s': its linearizability model needs a name, init, step and a "
                    "state of 1..64 bytes",
                    svc->name);
    }
    if (svc->check_count > TR_SERVICE_CHECKS_MAX) {
        return fail(err, cap, "service '%s': %u checks (at most %d)", svc->name, svc->check_count,
                    TR_SERVICE_CHECKS_MAX);
    }
    if (svc->check_count && !svc->checks) {
        return fail(err, cap, "service '%s': check_count is %u but checks is NULL", svc->name,
                    svc->check_count);
    }
    for (uint32_t i = 0; i < svc->check_count; i++) {
        const tr_check *c = &svc->checks[i];
        if (!word_ok(c->name, TR_HISTORY_NAME_MAX) || !c->run) {
            return fail(err, cap,
                        "service '%s': check %u needs a name ([a-z0-9-], 1..%d bytes) and a "
                        "run callback",
                        svc->name, i, TR_HISTORY_NAME_MAX);
        }
        if (!strcmp(c->name, "linearizable")) {
            return fail(err, cap,
                        "service '%s': the check name 'linearizable' is the model's (set "
                        "lin_model instead)",
                        svc->name);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (!strcmp(svc->checks[j].name, c->name)) {
                return fail(err, cap, "service '%s': two checks are named '%s'", svc->name,
                            c->name);
            }
        }
    }
    for (uint32_t i = 0; i < svc->check_count; i++) {
        const char *on = svc->checks[i].rests_on;
        const tr_check *base = NULL;
        for (uint32_t j = 0; on && j < svc->check_count && !base; j++) {
            base = j != i && !strcmp(svc->checks[j].name, on) ? &svc->checks[j] : NULL;
        }
        if (on && (!base || base->rests_on)) {
            return fail(err, cap,
                        "service '%s': check '%s' rests on '%.64s', which must be another of its "
                        "checks and rest on none",
                        svc->name, svc->checks[i].name, on);
        }
    }
    if (svc->lin_rests_on) {
        bool found = false;
        for (uint32_t i = 0; i < svc->check_count && !found; i++) {
            found = !strcmp(svc->checks[i].name, svc->lin_rests_on);
        }
        if (!m || !found) {
            return fail(err, cap,
                        "service '%s': lin_rests_on '%.64s' must name one of its checks, and "
                        "needs a lin_model",
                        svc->name, svc->lin_rests_on);
        }
    }
    if (svc->state_actor && (!reg_name_ok(svc->state_actor, strnlen(svc->state_actor, 65)) ||
                             svc->state_type < TR_MSG_USER || svc->state_type >= 0xFFFF0000u)) {
        return fail(err, cap,
                    "service '%s': the final-state request needs an actor name and a user type "
                    "(>= %d)",
                    svc->name, TR_MSG_USER);
    }
    return 0;
}

static int validate_faults_and_bugs(const tr_service *svc, char *err, size_t cap) {
    if (svc->fault_count > TR__SERVICE_FAULTS_MAX) {
        return fail(err, cap, "service '%s': %u fault kinds (at most %d)", svc->name,
                    svc->fault_count, TR__SERVICE_FAULTS_MAX);
    }
    if (svc->fault_count && !svc->faults) {
        return fail(err, cap, "service '%s': fault_count is %u but faults is NULL", svc->name,
                    svc->fault_count);
    }
    for (uint32_t i = 0; i < svc->fault_count; i++) {
        const tr_service_fault *f = &svc->faults[i];
        if (!word_ok(f->name, TR_HISTORY_NAME_MAX) || !f->start || !f->stop) {
            return fail(err, cap,
                        "service '%s': fault kind %u needs a name ([a-z0-9-], 1..%d bytes), "
                        "start and stop",
                        svc->name, i, TR_HISTORY_NAME_MAX);
        }
        for (size_t k = 0; k < sizeof builtin_faults / sizeof builtin_faults[0]; k++) {
            if (!strcmp(f->name, builtin_faults[k])) {
                return fail(err, cap, "service '%s': fault kind '%s' is a built-in kind's name",
                            svc->name, f->name);
            }
        }
        for (uint32_t j = 0; j < i; j++) {
            if (!strcmp(svc->faults[j].name, f->name)) {
                return fail(err, cap, "service '%s': two fault kinds are named '%s'", svc->name,
                            f->name);
            }
        }
    }
    for (uint32_t i = 0; svc->bugs && svc->bugs[i]; i++) {
        if (i == TR__SERVICE_BUGS_MAX) {
            return fail(err, cap,
                        "service '%s': more than %d planted bugs (is the list "
                        "NULL-terminated?)",
                        svc->name, TR__SERVICE_BUGS_MAX);
        }
        if (!word_ok(svc->bugs[i], TR_HISTORY_NAME_MAX)) {
            return fail(err, cap,
                        "service '%s': planted bug %u is not a name ([a-z0-9-], 1..%d bytes)",
                        svc->name, i, TR_HISTORY_NAME_MAX);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (!strcmp(svc->bugs[j], svc->bugs[i])) {
                return fail(err, cap, "service '%s': the planted bug '%s' is listed twice",
                            svc->name, svc->bugs[i]);
            }
        }
    }
    return 0;
}

int tr_service_validate(const tr_service *svc, char *err, size_t err_cap) {
    if (err && err_cap) {
        err[0] = 0;
    }
    if (!svc) {
        return fail(err, err_cap, "no service descriptor");
    }
    if (svc->abi != TR_SERVICE_ABI) {
        return fail(err, err_cap, "service ABI %u, but this troupe hosts ABI %d", svc->abi,
                    TR_SERVICE_ABI);
    }
    if (!word_ok(svc->name, TR_NAME_MAX)) {
        return fail(err, err_cap, "service name '%.64s' is not 1..%d bytes of [a-z0-9-]",
                    svc->name ? svc->name : "(null)", TR_NAME_MAX);
    }
    if (!nemesis_known(svc->nemesis)) {
        return fail(err, err_cap, "service '%s': its nemesis 0x%x names unknown fault kinds",
                    svc->name, svc->nemesis);
    }
    const tr_workload *w = svc->workload;
    bool stateful = w && (w->client_next || w->client_complete || w->client_state_size);
    if (stateful && (!w->client_next || !w->client_complete ||
                     w->client_state_size > TR_WORKLOAD_CLIENT_STATE_MAX)) {
        return fail(err, err_cap,
                    "service '%s': a stateful workload needs client_next, client_complete and "
                    "a client_state_size of at most %d",
                    svc->name, TR_WORKLOAD_CLIENT_STATE_MAX);
    }
    int rc = stateful ? 0 : validate_workload(svc, err, err_cap);
    if (rc == 0) {
        rc = validate_actors(svc, err, err_cap);
    }
    if (rc == 0) {
        rc = validate_requests(svc, err, err_cap);
    }
    if (rc == 0) {
        rc = validate_checks(svc, err, err_cap);
    }
    if (rc == 0) {
        rc = validate_faults_and_bugs(svc, err, err_cap);
    }
    return rc;
}

/* ---- loading a module ---- */

static int load_fail(char *err, size_t cap, int rc, const char *fmt, ...) {
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* 0 when path names a readable file that starts as an ELF object does, else the reason. */
static int check_file(const char *path, char *err, size_t cap) {
    struct stat st;
    if (stat(path, &st) != 0) {
        return load_fail(err, cap, TR_ENOENT, "cannot open '%s': %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return load_fail(err, cap, TR_ENOENT, "'%s' is not a regular file", path);
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        return load_fail(err, cap, TR_ENOENT, "cannot open '%s': %s", path, strerror(errno));
    }
    unsigned char magic[4] = {0};
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n != sizeof magic || memcmp(magic,
                                    "\x7f"
                                    "ELF",
                                    4) != 0) {
        return load_fail(err, cap, TR_ENOENT,
                         "'%s' is not a shared object (no ELF header): build the service "
                         "with -shared",
                         path);
    }
    return 0;
}

int tr_service_load(const char *path, const tr_service **out, char *err, size_t err_cap) {
    if (err && err_cap) {
        err[0] = 0;
    }
    if (!path || !*path || !out) {
        return load_fail(err, err_cap, TR_EINVAL, "no module path");
    }
    int rc = check_file(path, err, err_cap);
    if (rc) {
        return rc;
    }
    /* dlopen searches the library path for a name without a slash: a path is meant here. */
    char local[4096];
    if (!strchr(path, '/')) {
        if ((size_t)snprintf(local, sizeof local, "./%s", path) >= sizeof local) {
            return load_fail(err, err_cap, TR_EINVAL, "module path too long");
        }
        path = local;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return load_fail(err, err_cap, TR_ENOENT, "cannot load '%s': %s", path,
                         why ? why : "unknown reason");
    }
    /* A module that defines the public functions itself carries a second runtime (it was
     * linked with libtroupe): its actors would live in a runtime nobody runs. */
    void *own = dlsym(h, "tr_strerror");
    if (own && own != (void *)tr_strerror) {
        dlclose(h);
        return load_fail(err, err_cap, TR_EINVAL,
                         "'%s' carries its own copy of the troupe runtime (it defines "
                         "tr_strerror): build it without libtroupe",
                         path);
    }
    void *sym = dlsym(h, TR_SERVICE_ENTRY);
    if (!sym) {
        dlclose(h);
        return load_fail(err, err_cap, TR_EINVAL,
                         "'%s' is not a troupe service: it has no %s entry point", path,
                         TR_SERVICE_ENTRY);
    }
    tr_service_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const tr_service *svc = entry();
    if (!svc) {
        dlclose(h);
        return load_fail(err, err_cap, TR_EINVAL, "'%s': %s returned no descriptor", path,
                         TR_SERVICE_ENTRY);
    }
    if (svc->abi != TR_SERVICE_ABI) {
        uint32_t abi = svc->abi;
        dlclose(h);
        return load_fail(err, err_cap, TR_EINVAL,
                         "'%s' was built for service ABI %u; this troupe hosts ABI %d "
                         "(rebuild it against this troupe.h)",
                         path, abi, TR_SERVICE_ABI);
    }
    char why[256];
    if (tr_service_validate(svc, why, sizeof why) != 0) {
        dlclose(h);
        return load_fail(err, err_cap, TR_EINVAL, "'%s': %s", path, why);
    }
    *out = svc; /* h stays open: the descriptor lives in the module */
    return 0;
}

/* ---- booting on a node ---- */

bool tr__service_places(const tr_service_actor *a, const tr_service_env *env) {
    TR_ASSERT(a != NULL && env != NULL);
    if (a->placement == TR_PLACE_EVERY_NODE) {
        return true;
    }
    size_t self = strlen(env->node_name);
    for (const char *s = a->nodes; s && *s;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n == self && !memcmp(s, env->node_name, n)) {
            return true;
        }
        s = end ? end + 1 : NULL;
    }
    return false;
}

int tr__service_request_type(const tr_service *svc, const char *name, uint32_t *type) {
    for (uint32_t i = 0; i < svc->request_count; i++) {
        if (!strcmp(svc->requests[i].name, name)) {
            *type = svc->requests[i].type;
            return 0;
        }
    }
    return TR_ENOENT;
}

/* A real node's boot learns each init's outcome through a copy of the actor's behaviour
 * whose init is boot_init: it runs the service's init and records the result here. The
 * spawn argument starts with a boot_tag naming the record and the actor's slot in it. The
 * record and the behaviour copies live as long as the process (the actors use the copies;
 * an init that outlasts the boot's wait still writes its result here). */
typedef struct boot_record {
    tr_behaviour copies[TR_SERVICE_ACTORS_MAX];
    const tr_behaviour *orig[TR_SERVICE_ACTORS_MAX];
    _Atomic int state[TR_SERVICE_ACTORS_MAX]; /* 1 pending, 0 ok, < 0 init's error */
    struct boot_record *next;                 /* the kept list */
} boot_record;

/* The records whose actors still run on their behaviour copies: they live as long as the
 * process (an actor outlives no record), and this list keeps them reachable, so a leak
 * checker reports them as held, not lost. A push only, lock-free (boots may run on several
 * threads); never read. */
static _Atomic(boot_record *) kept;

static void boot_keep(boot_record *rec) {
    boot_record *head = atomic_load_explicit(&kept, memory_order_relaxed);
    do {
        rec->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&kept, &head, rec, memory_order_release,
                                                    memory_order_relaxed));
}

typedef struct boot_tag {
    boot_record *rec;
    uint32_t index;
} boot_tag;

static int boot_init(tr_ctx *ctx, void *state, const void *arg, size_t arg_len) {
    TR_ASSERT(arg_len >= sizeof(boot_tag));
    boot_tag tag;
    memcpy(&tag, arg, sizeof tag);
    const tr_behaviour *b = tag.rec->orig[tag.index];
    const uint8_t *user = (const uint8_t *)arg + sizeof tag;
    size_t user_len = arg_len - sizeof tag;
    int rc = b->init ? b->init(ctx, state, user_len ? user : NULL, user_len) : 0;
    /* release: the booting thread reads the result, nothing else; the value is all it needs */
    atomic_store_explicit(&tag.rec->state[tag.index], rc > 0 ? TR_EFAILED : rc,
                          memory_order_release);
    return rc;
}

static void pause_1ms(void) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Stops the actors spawned so far and, if wait, waits until they are gone (their names free).
 * True when they are known to be gone. */
static bool boot_undo(tr_node *node, const tr_service *svc, const tr_addr *addrs, uint32_t n,
                      bool wait) {
    for (uint32_t i = 0; i < n; i++) {
        if (!tr_addr_is_none(addrs[i])) {
            (void)tr_node_stop(node, addrs[i], 0);
        }
    }
    for (int ms = 0; wait && ms < TR__SERVICE_BOOT_WAIT_MS; ms++) {
        bool gone = true;
        for (uint32_t i = 0; i < n && gone; i++) {
            tr_addr who;
            gone = tr_addr_is_none(addrs[i]) ||
                   (!tr_node_actor_is_alive(node, addrs[i]) &&
                    (tr_node_lookup(node, svc->actors[i].name, &who) != 0 ||
                     !tr_addr_eq(who, addrs[i])));
        }
        if (gone) {
            return true;
        }
        pause_1ms();
    }
    return false;
}

_Static_assert(sizeof((tr_service_place *)0)->bug > TR_HISTORY_NAME_MAX,
               "a planted bug's name fits tr_service_place.bug");

/* The topics broker is one per node, shared by every service that lists it: true when a is
 * the broker and another service already runs it on node. */
static bool broker_shared(const tr_service_actor *a, tr_node *node) {
    tr_addr at;
    return a->behaviour == &tr_topics_broker && tr_node_lookup(node, a->name, &at) == 0;
}

/* Spawns actor i on node (its argument from its arg callback, or a tr_service_place). */
static int boot_spawn(const tr_service *svc, uint32_t i, tr_node *node, const tr_service_env *env,
                      boot_record *rec, uint8_t *buf, tr_addr *out, char *err, size_t cap) {
    const tr_service_actor *a = &svc->actors[i];
    size_t head = rec ? sizeof(boot_tag) : 0;
    size_t len = 0;
    if (a->arg) {
        int rc = a->arg(env, buf + head, TR__SERVICE_ARG_MAX, &len);
        if (rc != 0 || len > TR__SERVICE_ARG_MAX) {
            rc = rc ? rc : TR_ETOOBIG;
            return load_fail(err, cap, rc, "service '%s': actor '%s': its argument: %s", svc->name,
                             a->name, tr_strerror(rc));
        }
    } else { /* where it runs (troupe.h; validate keeps a bug's name within place.bug) */
        tr_service_place place = {env->node_index, env->node_count, ""};
        snprintf(place.bug, sizeof place.bug, "%s", env->bug ? env->bug : "");
        memcpy(buf + head, &place, len = sizeof place);
    }
    const tr_behaviour *b = a->behaviour;
    if (rec) {
        rec->orig[i] = b;
        rec->copies[i] = *b;
        rec->copies[i].init = boot_init;
        atomic_store_explicit(&rec->state[i], 1, memory_order_relaxed);
        boot_tag tag = {rec, i};
        memcpy(buf, &tag, sizeof tag);
        b = &rec->copies[i];
    }
    tr_spawn_opts opts = {.name = a->name};
    int rc = tr_node_spawn(node, b, &opts, (head + len) ? buf : NULL, head + len, out);
    if (rc != 0) {
        return load_fail(err, cap, rc, "service '%s': actor '%s' cannot be spawned: %s%s",
                         svc->name, a->name, tr_strerror(rc),
                         rc == TR_EEXIST ? " (another actor has that name on this node)" : "");
    }
    return 0;
}

/* Waits for the inits of the actors spawned; 0 or the first failure's error. */
static int boot_wait(const tr_service *svc, boot_record *rec, const tr_addr *addrs, char *err,
                     size_t cap) {
    for (int ms = 0;; ms++) {
        bool pending = false;
        for (uint32_t i = 0; i < svc->actor_count; i++) {
            if (tr_addr_is_none(addrs[i])) {
                continue;
            }
            int st = atomic_load_explicit(&rec->state[i], memory_order_acquire);
            if (st < 0) {
                return load_fail(err, cap, st, "service '%s': actor '%s' failed in init: %s",
                                 svc->name, svc->actors[i].name, tr_strerror(st));
            }
            pending = pending || st == 1;
        }
        if (!pending) {
            return 0;
        }
        if (ms == TR__SERVICE_BOOT_WAIT_MS) {
            return load_fail(err, cap, TR_ETIMEDOUT,
                             "service '%s': its actors' inits did not finish within %d ms",
                             svc->name, TR__SERVICE_BOOT_WAIT_MS);
        }
        pause_1ms();
    }
}

int tr__service_boot_why(const tr_service *svc, tr_node *node, const tr_service_env *env, char *err,
                         size_t err_cap) {
    if (err && err_cap) {
        err[0] = 0;
    }
    if (!node || !env || !env->node_name || env->node_index >= env->node_count) {
        return load_fail(err, err_cap, TR_EINVAL, "boot: no node, or a bad node environment");
    }
    int rc = tr_service_validate(svc, err, err_cap);
    if (rc) {
        return rc;
    }
    uint8_t *buf = malloc(sizeof(boot_tag) + TR__SERVICE_ARG_MAX);
    boot_record *rec = env->simulated ? NULL : calloc(1, sizeof *rec);
    if (!buf || (!env->simulated && !rec)) {
        free(buf);
        free(rec);
        return load_fail(err, err_cap, TR_ENOMEM, "boot: out of memory");
    }
    tr_addr addrs[TR_SERVICE_ACTORS_MAX];
    uint32_t spawned = 0;
    for (uint32_t i = 0; i < svc->actor_count && rc == 0; i++) {
        addrs[i] = TR_ADDR_NONE;
        spawned = i + 1;
        if (tr__service_places(&svc->actors[i], env) && !broker_shared(&svc->actors[i], node)) {
            rc = boot_spawn(svc, i, node, env, rec, buf, &addrs[i], err, err_cap);
        }
    }
    free(buf);
    if (rc == 0 && rec) {
        rc = boot_wait(svc, rec, addrs, err, err_cap);
    }
    if (rc != 0 && boot_undo(node, svc, addrs, spawned, rec != NULL)) {
        free(rec); /* every actor that used it is gone */
    } else if (rec) {
        boot_keep(rec);
    }
    /* a kept record: the spawned actors run on its behaviour copies for the rest of their
     * life (or an init that outlasted the wait still writes into it) */
    return rc;
}

int tr_service_boot(const tr_service *svc, tr_node *node, const tr_service_env *env) {
    return tr__service_boot_why(svc, node, env, NULL, 0);
}
