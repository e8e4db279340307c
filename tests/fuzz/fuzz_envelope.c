/* fuzz_envelope.c — envelope decoding (runtime/codec.h): the fast path and the general
 * reader must agree on every input (both accept with the same message, or both refuse),
 * and a message they accept must encode back to an envelope that decodes to the same. The
 * clock is NULL (standing at 0), so a deadline's time left and its absolute time coincide
 * and survive the round trip exactly. */
#include <stdlib.h>
#include <string.h>

#include "runtime/codec.h"
#include "runtime/engine.h"

static void same(const tr_msg *x, const tr_msg *y) {
    if (x->type != y->type || x->corr != y->corr || x->body_len != y->body_len ||
        x->from.node != y->from.node || x->from.actor != y->from.actor ||
        x->to.node != y->to.node || x->to.actor != y->to.actor ||
        memcmp(&x->trace, &y->trace, sizeof x->trace) != 0 || x->deadline_ != y->deadline_ ||
        (x->body_len && memcmp(x->body, y->body, x->body_len) != 0)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tr_msg *fast = NULL, *general = NULL;
    char n1[TR_NAME_MAX + 1], n2[TR_NAME_MAX + 1];
    int r1 = tr__envelope_decode(data, size, NULL, &fast, n1);
    int r2 = tr__envelope_decode_general(data, size, NULL, &general, n2);
    if ((r1 == 0) != (r2 == 0)) {
        abort();
    }
    if (r1 == 0) {
        same(fast, general);
        if (strcmp(n1, n2) != 0) {
            abort();
        }
        size_t cap = tr__envelope_size(fast, n1[0] ? n1 : NULL, NULL), len = 0;
        uint8_t *buf = malloc(cap);
        tr_msg *again = NULL;
        char n3[TR_NAME_MAX + 1];
        if (!buf || tr__envelope_encode(fast, n1[0] ? n1 : NULL, NULL, buf, cap, &len) != 0 ||
            tr__envelope_decode(buf, len, NULL, &again, n3) != 0) {
            abort();
        }
        same(fast, again);
        tr_msg_free(again);
        free(buf);
        tr_msg_free(fast);
        tr_msg_free(general);
    }
    return 0;
}
