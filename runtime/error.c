/* error.c — names and messages of the project-wide error codes (troupe.h TR_ERRNO_MAP). */
#include "troupe.h"

const char *tr_err_name(int err) {
    switch (err) {
    case 0: return "TR_OK";
#define TR__XX(name, msg) \
    case TR_E##name: return "TR_E" #name;
        TR_ERRNO_MAP(TR__XX)
#undef TR__XX
    default: return "unknown";
    }
}

const char *tr_strerror(int err) {
    switch (err) {
    case 0: return "success";
#define TR__XX(name, msg) \
    case TR_E##name: return msg;
        TR_ERRNO_MAP(TR__XX)
#undef TR__XX
    default: return "unknown error";
    }
}
