/* builtin_module.c — the entry point of a built-in service built as a loadable module
 * (zig-out/lib/troupe-cp.so, troupe-ap.so, troupe-stock.so). The build compiles this file with
 * TR__BUILTIN_MODULE set to the descriptor (tr__builtin_cp, ...), together with
 * harness/builtin.c and the actors, with hidden visibility and without libtroupe: the module
 * exports only TR_SERVICE_ENTRY and takes every tr_* function from the program that loads
 * it, so the loaded service runs the same code as the built-in one. */
#include "harness/builtin.h"

/* Without TR__BUILTIN_MODULE (a tool reading the tree) the file defines nothing. */
#ifdef TR__BUILTIN_MODULE
__attribute__((visibility("default"))) const tr_service *troupe_service_v1(void);

const tr_service *troupe_service_v1(void) {
    return &TR__BUILTIN_MODULE;
}
#endif
