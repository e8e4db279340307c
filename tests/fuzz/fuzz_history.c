/* fuzz_history.c — the history readers of troupe check: EDN (troupe's, Jepsen's, Knossos's)
 * when the first byte is even, troupe's JSON when it is odd. A history they accept is
 * bounded by the op cap; a refusal has a reason. */
#include <stdlib.h>
#include <string.h>

#include "sim/history.h"
#include "sim/history_load.h"

#define MAX_OPS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    tr_history *h = NULL;
    char err[256] = "";
    int rc;
    if (data[0] & 1) {
        rc = tr__history_load_json(text, len, MAX_OPS, &h, err, sizeof err);
    } else {
        tr__history_load_opts o = {0};
        o.max_ops = MAX_OPS;
        tr__history_load_notes notes;
        rc = tr__history_import_edn(text, len, &o, &h, &notes, err, sizeof err);
    }
    if (rc == 0) {
        if (!h || tr__history_count(h) > MAX_OPS) {
            abort();
        }
        tr__history_destroy(h);
    } else if (err[0] == 0 || h != NULL) {
        abort(); /* a refusal says why and hands nothing back */
    }
    return 0;
}
