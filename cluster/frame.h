/*
 * frame.h — the transport's name for the protocol core's proto/frame.h, which is engine-free
 * and shared with the simulator (docs/cluster.md). Nothing is declared here.
 */
#ifndef TR_CLUSTER_FRAME_H
#define TR_CLUSTER_FRAME_H

#include "proto/frame.h"

#endif
