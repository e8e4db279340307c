/*
 * outbound.h — what the transport sends: per-peer queues, batches, control frames, wakes.
 *
 * What: each peer has the two bounded lanes of proto/outq.h under t->mu: a control lane
 * (heartbeats, gossip; at most CTRL_QUEUE_MAX bytes, a frame that does not fit is dropped:
 * the next tick sends a fresh one) and a data lane (envelopes from tr__transport_send,
 * bounded by queue_bytes and queue_count: a send over either bound is TR_EFULL). A flush swaps both queues with the link's empty batch buffers and writes them
 * with one uv_write of two buffers, control lane first, so heartbeats never wait behind a
 * user flood; while a batch is being written new frames collect in the queues.
 * Waking the loop: only the send that makes a queue non-empty wakes it (uv_async_send), and
 * not even that one while the loop spins after activity (see tr__outbound_note_activity)
 * or when the sender is the loop's own thread (flushed before the loop's next poll).
 * Threading: tr__transport_send from any thread; the rest on the loop thread.
 */
#ifndef TR_CLUSTER_OUTBOUND_H
#define TR_CLUSTER_OUTBOUND_H

#include "cluster/transport_internal.h"

/* Moves what is queued for p into its link's batch and writes it (control lane first),
 * unless p has no link or its link is writing already; true if anything was written (at
 * once) or is being written. */
bool tr__outbound_flush_peer(tr_transport *t, peer *p);
/* Flushes every linked peer; true if anything was written or is being written. */
bool tr__outbound_flush_all(tr_transport *t);
/* Queues a control frame (whole frame bytes, copied) for p and flushes. */
void tr__outbound_queue_ctrl(tr_transport *t, peer *p, const uint8_t *frame, size_t len);
/* Queues a HEARTBEAT (sequence t->hb_seq) for p. */
void tr__outbound_heartbeat(tr_transport *t, peer *p);
/* Queues a GOSSIP frame listing this node and every known member for p. */
void tr__outbound_gossip(tr_transport *t, peer *p);
/* A whole BYE frame ("shutdown") into buf; its size (cap 64 is enough). */
long tr__outbound_bye_frame(uint8_t *buf, size_t cap);
/* I/O activity (bytes in, a batch out): keep the loop spinning for spin_ns more. */
void tr__outbound_note_activity(tr_transport *t);
/* t->async's callback: a sender queued for an idle peer. */
void tr__outbound_on_async(uv_async_t *a);
/* t->flusher's callback, each loop turn before the poll: notes the loop's thread, and
 * flushes what that thread queued since (tr__transport_send from the loop thread sets
 * t->loop_sent instead of waking the loop). */
void tr__outbound_on_prepare(uv_prepare_t *h);
/* The loop thread forgets t (t closes): its later sends to another transport at t's
 * address must wake that one's loop. */
void tr__outbound_forget_thread(tr_transport *t);

#endif
