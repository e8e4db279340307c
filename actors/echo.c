/* echo.c — the "echo" actor (see echo.h). */
#include "actors/echo.h"

static int echo_receive(tr_ctx *ctx, void *state, const tr_msg *msg) {
    (void)state;
    if (msg->type >= TR_MSG_USER && !tr_addr_is_none(msg->from)) {
        (void)tr_reply(ctx, msg, msg->type, msg->body, msg->body_len);
    }
    return TR_CONTINUE;
}

const tr_behaviour tr__echo_behaviour = {.name = "echo", .receive = echo_receive};
