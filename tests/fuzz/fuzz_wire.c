/* fuzz_wire.c — the services' request and reply decoders (registers, stock) and the
 * msgpack validator on hostile bodies: no crash, no leak, no read past the body. */
#include <stdint.h>
#include <stdlib.h>

#include "actors/registers.h"
#include "actors/stock.h"
#include "runtime/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t key;
    bool has_value;
    int64_t value;
    (void)tr__registers_request_decode(data, size, &key, &has_value, &value);
    tr_reg_reply rr;
    (void)tr__registers_reply_decode(data, size, &rr);
    tr_stock_request sq;
    (void)tr__stock_request_decode(data, size, &sq);
    tr_stock_reply sr;
    (void)tr__stock_reply_decode(data, size, &sr);
    size_t used;
    (void)tr__msgpack_check(data, size, 32);
    (void)tr__msgpack_check_prefix(data, size, 32, &used);
    return 0;
}
