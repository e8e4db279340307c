/*
 * handshake.h — the transport's name for the protocol core's proto/handshake.h, which is engine-free
 * and shared with the simulator (docs/cluster.md). Nothing is declared here.
 */
#ifndef TR_CLUSTER_HANDSHAKE_H
#define TR_CLUSTER_HANDSHAKE_H

#include "proto/handshake.h"

#endif
