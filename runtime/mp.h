/*
 * mp.h — the msgpack writer and reader over caller memory. Their whole interface is public
 * and lives in troupe.h (section "Message bodies"), so that actors and users' services reach
 * it through the one public header; this header only names the module for runtime/ and
 * cluster/ code, which includes it where it uses the reader or writer.
 *
 * Why one module: the envelope codec (runtime/codec.c), the cluster's control frames
 * (cluster/frame.c) and the services' bodies (actors/) speak the same msgpack, and one
 * reader means one set of bounds checks to get right and to test (tests/runtime/test_mp.c).
 */
#ifndef TR_MP_H
#define TR_MP_H

#include "troupe.h"

#endif
