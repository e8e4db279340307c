/* workload_cas.c — the [code, value] register client (workload_cas.h). */
#include "harness/workload_cas.h"

#include <string.h>

int tr__cas_next(tr_sim_rng *rng, uint32_t keys, uint32_t read_type, const char *target,
                 tr_workload_op *op, uint32_t *type, const char **target_out, tr_mp_writer *w) {
    static const char *const f[] = {"read", "write", "cas"};
    uint32_t i = (uint32_t)tr_sim_rng_below(rng, 3);
    int64_t k = (int64_t)tr_sim_rng_below(rng, keys ? keys : 1);
    int64_t a = (int64_t)tr_sim_rng_below(rng, TR__CAS_VALUES);
    int64_t b = (int64_t)tr_sim_rng_below(rng, TR__CAS_VALUES);
    *op = (tr_workload_op){f[i], k, i > 0, i == 2, a, i == 2 ? b : 0};
    *type = read_type + i;
    *target_out = target;
    tr_mp_write_array(w, 1 + i);
    tr_mp_write_int(w, k);
    if (i > 0) {
        tr_mp_write_int(w, a);
    }
    if (i == 2) {
        tr_mp_write_int(w, b);
    }
    return w->err;
}

tr_history_type tr__cas_complete(const tr_workload_op *op, const tr_msg *reply,
                                 const char *const *why, int64_t code_max, bool host_strings,
                                 tr_workload_op *done, const char **error) {
    static _Thread_local char text[48];
    bool read = op->f[0] == 'r';
    int64_t code = -1, v = 0;
    uint32_t n = 0;
    *done = *op;
    if (!reply) {
        *error = "no answer";
        return read ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
    }
    tr_mp_reader r;
    tr_mp_reader_init(&r, reply->body, reply->body_len);
    if (host_strings && tr_mp_peek(&r) == TR_MP_STR &&
        tr_mp_read_str_copy(&r, text, sizeof text) == 0) {
        *error = text;
        return !read && !strcmp(text, "indeterminate") ? TR_HISTORY_INFO : TR_HISTORY_FAIL;
    }
    bool nil = tr_mp_read_array(&r, &n) == 0 && tr_mp_read_int(&r, &code) == 0 &&
               tr_mp_peek(&r) == TR_MP_NIL;
    (void)(nil ? tr_mp_read_nil(&r) : tr_mp_read_int(&r, &v));
    if (tr_mp_reader_done(&r) != 0 || n != 2 || code < 0 || code > code_max) {
        *error = "bad reply";
        return read ? TR_HISTORY_FAIL : TR_HISTORY_INFO;
    }
    if (code != 0) {
        *error = why[code];
        return TR_HISTORY_FAIL;
    }
    if (read) {
        done->has_value = !nil;
        done->value = nil ? 0 : v;
    }
    return TR_HISTORY_OK;
}
