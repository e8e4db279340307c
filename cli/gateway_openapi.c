/* gateway_openapi.c — docs/openapi.json, the gateway's contract, embedded in the binary when
 * compiling (C23 #embed, which the build's clang takes in C11 mode as an extension), so that
 * the document served is the one kept in the repository, byte for byte. The directive lives in
 * gateway_openapi.inc: a preprocessor without #embed (the tidy check's) never reads it. */
#include <stddef.h>

#if defined(__clang__) && __clang_major__ >= 19
#pragma clang diagnostic ignored "-Wc23-extensions"
const char tr__gateway_openapi[] = {
#include "cli/gateway_openapi.inc"
    , 0};
const size_t tr__gateway_openapi_len = sizeof tr__gateway_openapi - 1;
#endif
