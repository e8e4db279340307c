/* register_wire.c — the services' integer reader (see register_wire.h). */
#include "actors/register_wire.h"

#include <string.h>

/* A float holding an integral value in int64 range (JSON tools may send 5.0 for 5). */
static int get_integral_float(tr_mp_reader *r, int64_t *v) {
    double d;
    if (tr_mp_read_float(r, &d) != 0) {
        return TR_EPROTO;
    }
    /* -2^63 <= d < 2^63, and no fraction (NaN fails both comparisons) */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d) {
        r->err = TR_EPROTO; /* a failed read leaves the reader failed, at its end */
        r->p = r->end;
        return TR_EPROTO;
    }
    *v = (int64_t)d;
    return 0;
}

int tr__wire_get_int_any(tr_mp_reader *r, int64_t *v) {
    if (tr_mp_peek(r) == TR_MP_FLOAT) {
        return get_integral_float(r, v);
    }
    return tr_mp_read_int_any(r, v);
}

size_t tr__wire_error_body(uint8_t *buf, size_t cap, const char *why) {
    tr_mp_writer w;
    size_t n = strlen(why);
    size_t room = cap > 8 ? cap - 8 : 0; /* fixmap, "error" (6 bytes), str8 header */
    tr_mp_writer_init(&w, buf, cap);
    tr_mp_write_map(&w, 1);
    tr_mp_write_cstr(&w, "error");
    tr_mp_write_str(&w, why, n < room ? n : room);
    return w.err ? 0 : w.len;
}
