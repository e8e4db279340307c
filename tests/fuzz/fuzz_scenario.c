/* fuzz_scenario.c — the --scenario file reader: no crash, no leak, a refusal says why. */
#include <stdlib.h>

#include "sim/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tr_scenario s;
    char err[256] = "";
    int rc = tr__scenario_parse((const char *)data, size, 5, &s, err, sizeof err);
    if (rc == 0) {
        tr__scenario_free(&s);
    } else if (err[0] == 0 && rc != TR_ENOMEM) {
        abort();
    }
    return 0;
}
