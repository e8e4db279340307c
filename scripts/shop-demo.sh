#!/bin/sh
# shop-demo.sh — a 4-node shop on this machine: nodes n1..n4 on 127.0.0.1 hosting the shop
# (orders saga, payments, stock, the payment provider, topics) and the catalog, each with the
# HTTP gateway (n1 on 127.0.0.1:8080, n2 on 8081, ...). Prints curl lines to try, then waits;
# Ctrl-C stops the nodes and removes their data.
#
#   sh scripts/shop-demo.sh [TROUPE_BINARY]     (default: zig-out/bin/troupe)
#   HTTP_PORT=9080 CLUSTER_PORT=9401 sh scripts/shop-demo.sh   (other ports)
#
# The cluster's secret is generated for the run and passed in the environment; the data lives
# in a fresh temporary directory. Logs: DIR/nK.log (the directory is printed).
set -eu
EXE=${1:-zig-out/bin/troupe}
HTTP_PORT=${HTTP_PORT:-8080}
CLUSTER_PORT=${CLUSTER_PORT:-7401}
[ -x "$EXE" ] || { echo "shop-demo: no troupe binary at $EXE (build with: python3 -m ziglang build)" >&2; exit 2; }
command -v curl >/dev/null || { echo "shop-demo: curl is needed to try the gateway" >&2; exit 2; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/troupe-shop.XXXXXX")
TROUPE_SECRET="shop-demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export TROUPE_SECRET
PIDS=""
stop() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

for k in 1 2 3 4; do
    port=$((CLUSTER_PORT + k - 1))
    seeds=""
    [ "$k" -gt 1 ] && seeds="--seeds 127.0.0.1:$CLUSTER_PORT"
    # shellcheck disable=SC2086 # $seeds is empty or two words
    "$EXE" node --name "n$k" --listen "127.0.0.1:$port" $seeds --replicas n1,n2,n3,n4 \
        --data "$DIR/n$k" --builtins shop --http "127.0.0.1:$((HTTP_PORT + k - 1))" \
        --heartbeat-ms 200 --down-ms 1500 >"$DIR/n$k.log" 2>&1 &
    PIDS="$PIDS $!"
done
# Ready once every gateway answers.
for k in 1 2 3 4; do
    url="http://127.0.0.1:$((HTTP_PORT + k - 1))/health"
    i=0
    until curl -s -o /dev/null "$url"; do
        i=$((i + 1))
        if [ "$i" -gt 100 ]; then
            echo "shop-demo: n$k did not start; its log:" >&2
            cat "$DIR/n$k.log" >&2
            exit 1
        fi
        sleep 0.1
    done
done
sleep 1 # the nodes join and the catalog replicas subscribe

G=http://127.0.0.1:$HTTP_PORT
cat <<MSG
A 4-node shop is running (data and logs in $DIR; Ctrl-C stops it).
Gateways: $G (n1), http://127.0.0.1:$((HTTP_PORT + 1)) (n2), :$((HTTP_PORT + 2)) (n3), :$((HTTP_PORT + 3)) (n4).
Try:

  curl -s -X POST $G/products -d '{"id": 3, "name": "Teapot", "price_cents": 800}'
  curl -s http://127.0.0.1:$((HTTP_PORT + 3))/products/3
  curl -s -i -X POST $G/orders -H 'Idempotency-Key: demo-1' -d '{"item": 3, "qty": 2}'
  curl -s -i -X POST http://127.0.0.1:$((HTTP_PORT + 1))/orders -H 'Idempotency-Key: demo-1' -d '{"item": 3, "qty": 2}'
  curl -s $G/orders/ID            (the id the order answered)
  curl -s -i -X POST $G/orders -d '{"item": 3, "qty": 2}'
  curl -s $G/health
  curl -s $G/openapi.json | head -c 300

MSG
while :; do sleep 3600 & wait $!; done # wait: a signal ends it at once
