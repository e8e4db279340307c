/*
 * membership.h — the transport's name for the protocol core's proto/membership.h, which is engine-free
 * and shared with the simulator (docs/cluster.md). Nothing is declared here.
 */
#ifndef TR_CLUSTER_MEMBERSHIP_H
#define TR_CLUSTER_MEMBERSHIP_H

#include "proto/membership.h"

#endif
