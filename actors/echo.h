/* echo.h — the "echo" actor: replies to every request with its own type and body.
 *
 * A request is any message of a user type (>= TR_MSG_USER) with a sender; the reply goes to
 * the sender with the request's correlation id, the same type and the same body bytes (not
 * decoded, so any body is echoed, msgpack or not). Messages of system types and messages
 * without a sender are ignored. Stateless; `troupe node` hosts one under the name "echo",
 * which makes it the simplest end-to-end probe of a node and of the links between nodes. */
#ifndef TR_ACTORS_ECHO_H
#define TR_ACTORS_ECHO_H

#include "troupe.h"

extern const tr_behaviour tr__echo_behaviour;

#endif
