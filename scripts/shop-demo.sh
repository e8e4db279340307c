#!/bin/sh
# shop-demo.sh — a 4-node shop on this machine: nodes n1..n4 on 127.0.0.1 hosting the shop
# (orders saga, payments, stock, the payment provider, topics) and the catalog, each with the
# HTTP gateway (n1 on 127.0.0.1:8080, n2 on 8081, ...). n4 is the payments node: every
# coordinator charges through n4's payment provider (TROUPE_SHOP_PAYMENTS_NODE=n4), so killing
# n4 with kill -9 opens the coordinators' breaker in front of it and POST /orders answers 503
# at once until n4 is back. Prints curl lines to try, then waits; Ctrl-C stops the nodes and
# removes their data.
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
TROUPE_SHOP_PAYMENTS_NODE=n4
export TROUPE_SHOP_PAYMENTS_NODE
PIDS=""
stop() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# node_cmd K: the command line of node nK
node_cmd() {
    seeds=""
    [ "$1" -gt 1 ] && seeds="--seeds 127.0.0.1:$CLUSTER_PORT"
    echo "$EXE node --name n$1 --listen 127.0.0.1:$((CLUSTER_PORT + $1 - 1)) $seeds" \
        "--replicas n1,n2,n3,n4 --data $DIR/n$1 --builtins shop" \
        "--http 127.0.0.1:$((HTTP_PORT + $1 - 1)) --heartbeat-ms 200 --down-ms 1500"
}
for k in 1 2 3 4; do
    # shellcheck disable=SC2046 # the words of the command line
    $(node_cmd "$k") >"$DIR/n$k.log" 2>&1 &
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
  curl -s -X POST $G/orders/ID/cancel   (the customer cancels it: refunded, stock returned)
  curl -s $G/health
  curl -s $G/openapi.json | head -c 300

The payments node is n4. Kill it, and new orders are refused at once (503, Retry-After):
  kill -9 $(echo $PIDS | cut -d' ' -f4)
  curl -s -i -X POST $G/orders -H 'Idempotency-Key: demo-2' -d '{"item": 3, "qty": 1}'
Restart it (in another shell; stop it yourself), and orders succeed again:
  TROUPE_SECRET=$TROUPE_SECRET TROUPE_SHOP_PAYMENTS_NODE=n4 $(node_cmd 4)

MSG
while :; do sleep 3600 & wait $!; done # wait: a signal ends it at once
