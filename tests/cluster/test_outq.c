/* test_outq.c — the bounded outbound queues of proto/outq.h: the bounds are back-pressure
 * (TR_EFULL, nothing queued), the control lane drops rather than grows, a batch takes both
 * lanes whole. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/frame.h"
#include "proto/link.h"
#include "proto/outq.h"

static const tr_outq_limits lim = {.ctrl_bytes = 64, .data_bytes = 100, .data_count = 3};

Test(outq, data_lane_refuses_past_its_frame_count) {
    tr_outq q = {0};
    uint8_t p[8] = "payload";
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tr__outq_push_data(&q, &lim, p, sizeof p), 0);
    }
    cr_assert_eq(tr__outq_push_data(&q, &lim, p, sizeof p), TR_EFULL);
    cr_assert_eq(q.count, 3);
    cr_assert_eq(q.data.len, 3 * (4 + sizeof p), "nothing queued by the refused push");
    cr_assert(tr__outq_check(&q, &lim, 1024));
    tr__outq_deinit(&q);
}

Test(outq, data_lane_refuses_past_its_byte_bound) {
    tr_outq q = {0};
    uint8_t p[60] = {1};
    cr_assert_eq(tr__outq_push_data(&q, &lim, p, 60), 0);
    cr_assert_eq(tr__outq_push_data(&q, &lim, p, 33), TR_EFULL, "64 + 4 + 33 > 100");
    cr_assert_eq(tr__outq_push_data(&q, &lim, p, 32), 0, "64 + 4 + 32 == 100 fits");
    cr_assert_eq(q.data.len, 100);
    tr__outq_deinit(&q);
}

Test(outq, control_lane_drops_what_does_not_fit) {
    tr_outq q = {0};
    uint8_t hb[32];
    long n = tr__proto_heartbeat_frame(7, hb, sizeof hb);
    cr_assert_gt(n, 0);
    int kept = 0;
    for (int i = 0; i < 100; i++) {
        kept += tr__outq_push_ctrl(&q, &lim, hb, (size_t)n);
    }
    cr_assert_eq((size_t)kept, lim.ctrl_bytes / (size_t)n);
    cr_assert_leq(q.ctrl.len, lim.ctrl_bytes);
    cr_assert_eq(tr__outq_frames(&q.ctrl, 1024), kept);
    tr__outq_deinit(&q);
}

Test(outq, take_hands_over_both_lanes_and_clear_drops_them) {
    tr_outq q = {0};
    uint8_t hb[32], p[5] = "abcd";
    long n = tr__proto_heartbeat_frame(1, hb, sizeof hb);
    cr_assert(tr__outq_push_ctrl(&q, &lim, hb, (size_t)n));
    cr_assert_eq(tr__outq_push_data(&q, &lim, p, 5), 0);
    cr_assert_eq(tr__outq_push_data(&q, &lim, p, 5), 0);
    tr_outq_buf ctrl = {0}, data = {0};
    cr_assert_eq(tr__outq_take(&q, &ctrl, &data), 2);
    cr_assert_eq(ctrl.len, (size_t)n);
    cr_assert_eq(tr__outq_frames(&data, 1024), 2);
    cr_assert_eq(q.count, 0);
    cr_assert_eq(q.data.len + q.ctrl.len, 0);
    cr_assert_eq(tr__outq_push_data(&q, &lim, p, 5), 0);
    cr_assert_eq(tr__outq_clear(&q), 1);
    cr_assert_eq(q.count + q.data.len, 0);
    tr__outq_buf_free(&ctrl);
    tr__outq_buf_free(&data);
    tr__outq_deinit(&q);
}

Test(outq, frames_rejects_a_torn_sequence) {
    tr_outq_buf b = {0};
    uint8_t bytes[] = {0, 0, 0, 2, 'h', 'i', 0, 0, 0, 5, 'x'};
    b.p = bytes;
    b.len = 6;
    cr_assert_eq(tr__outq_frames(&b, 1024), 1);
    b.len = sizeof bytes;
    cr_assert_eq(tr__outq_frames(&b, 1024), -1, "a frame cut short");
    cr_assert_eq(tr__outq_frames(&b, 1), -1, "over the payload limit");
}
