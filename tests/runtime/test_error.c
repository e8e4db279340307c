#include <criterion/criterion.h>
#include <string.h>
#include "troupe.h"

Test(error, names_and_messages_cover_every_code) {
    cr_assert_str_eq(tr_err_name(0), "TR_OK");
    cr_assert_str_eq(tr_err_name(TR_EINVAL), "TR_EINVAL");
    cr_assert_str_eq(tr_strerror(TR_ENOENT), "no such actor, name or key");
    for (int e = -1; e >= -TR__ERRNO_COUNT; e--) {
        cr_assert_neq(strcmp(tr_err_name(e), "unknown"), 0, "code %d has no name", e);
    }
    cr_assert_str_eq(tr_err_name(-TR__ERRNO_COUNT - 1), "unknown");
    cr_assert_str_eq(tr_strerror(12345), "unknown error");
}
