#!/bin/sh
# troupe-health: the container image's health check (installed as /usr/local/bin/troupe-health).
# One echo request to the node in this container over the cluster protocol, with the secret of
# TROUPE_SECRET or else /etc/troupe/secret; healthy when the node answers within 2 s. The node's
# address is TROUPE_HEALTH_ADDR (default 127.0.0.1:7401). Exit 0 healthy, 1 not.
addr=${TROUPE_HEALTH_ADDR:-127.0.0.1:7401}
if [ -z "${TROUPE_SECRET:-}" ] && [ -r /etc/troupe/secret ]; then
    set -- --secret-file /etc/troupe/secret
fi
out=$(troupe call "$addr" echo echo '"health"' --timeout 2000 "$@" 2>&1) || {
    echo "troupe-health: $out" | tail -1
    exit 1
}
[ "$out" = '"health"' ] || { echo "troupe-health: answered $out"; exit 1; }
