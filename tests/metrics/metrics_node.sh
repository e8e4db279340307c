#!/bin/sh
# `troupe node --metrics` and `troupe status` on a real 3-node loopback cluster
# (docs/metrics.md, docs/status.md):
#   - GET /healthz answers "ok"; GET /metrics passes `promtool check metrics` (Debian's
#     prometheus package), before and after a known workload;
#   - N echo requests through `troupe call` move the families by at least N: messages in and
#     out of the type "echo", the node's delivered messages, the transport's frames in; one
#     request to a name nobody registered adds a dead letter with reason "no_actor"; three kv
#     puts add 3 writes to the store's writes-per-commit histogram, and every commit shows in
#     the commit-latency histogram (its count grows as the commits do), the map's size and
#     use are set; a call the access-control policy denies adds 1 refusal; n1's gateway
#     (no orders service behind it) gets 6 orders: 5 failures open the orders breaker
#     (state 1, 1 open) and the 6th is refused by it (1 rejected);
#   - `troupe status` lists three members up (--json and the table), and after kill -9 of n3
#     shows n3 down within the failure detector's bound (--down-ms) plus the status view's
#     refresh and a margin for a loaded machine; the time it took is printed.
# Usage: metrics_node.sh TROUPE
set -u
troupe=$1
. "$(dirname "$0")/../node_helpers.sh"
command -v promtool >/dev/null || fail "promtool not found (Debian's prometheus package)"
command -v curl >/dev/null || fail "curl not found"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
n=20
down_ms=2000
printf 'metrics-node-test-secret-0123456789' >"$dir/secret"
unset TROUPE_SECRET
common="--secret-file $dir/secret --heartbeat-ms 100 --down-ms $down_ms --builtins echo,kv,pubsub"

# promtool must refuse a broken page, or its passes below would prove nothing.
printf '# TYPE x counter\nx{a="1" 2\n' | promtool check metrics >/dev/null 2>&1 &&
    fail "promtool accepted a malformed page"

printf 'deny clients * forbidden-here\nallow * * *\n' >"$dir/policy"
"$troupe" node --name n1 --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --data "$dir/n1" $common \
    --policy "$dir/policy" --http 127.0.0.1:0 2>"$dir/n1.log" &
pids="$pids $!"
p1=$(port n1) || fail "n1 did not start"
mp=$(sed -n 's/.*event=metrics_ready metrics_port=\([0-9]*\).*/\1/p' "$dir/n1.log")
[ -n "$mp" ] || fail "n1 logged no metrics_ready line"
hp=$(sed -n 's/.*event=gateway_ready http_port=\([0-9]*\).*/\1/p' "$dir/n1.log")
[ -n "$hp" ] || fail "n1 logged no gateway_ready line"
for node in n2 n3; do
    "$troupe" node --name $node --listen 127.0.0.1:0 --seeds 127.0.0.1:$p1 --data "$dir/$node" \
        $common 2>"$dir/$node.log" &
    pid=$!
    pids="$pids $pid"
    [ $node = n3 ] && n3=$pid
done
port n2 >/dev/null || fail "n2 did not start"
port n3 >/dev/null || fail "n3 did not start"

[ "$(curl -s "http://127.0.0.1:$mp/healthz")" = "ok" ] || fail "/healthz did not answer ok"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mp/nothing")
[ "$code" = 404 ] || fail "GET /nothing answered $code, not 404"

status() {
    "$troupe" status 127.0.0.1:$p1 --secret-file "$dir/secret" --timeout 2000 "$@"
}
# state NAME JSON: NAME's state in a status --json answer.
state() {
    echo "$2" | tr '{' '\n' | sed -n "s/^\"name\":\"$1\",\"id\":[0-9]*,\"state\":\"\([a-z]*\)\".*/\1/p"
}
i=0
while :; do
    js=$(status --json 2>"$dir/status.err")
    [ "$(state n1 "$js")$(state n2 "$js")$(state n3 "$js")" = upupup ] && break
    i=$((i + 1))
    [ $i -lt 100 ] || fail "status never listed n1, n2, n3 up: $js $(cat "$dir/status.err")"
    sleep 0.1
done
status >"$dir/table" || fail "status (table) failed"
[ "$(grep -cE '^n[123] +[0-9]+ +up ' "$dir/table")" = 3 ] ||
    fail "the status table does not list three members up: $(cat "$dir/table")"
echo "metrics_node.sh: status lists n1, n2, n3 up"

scrape() {
    curl -s -o "$dir/$1.txt" -w '%{http_code} %{content_type}' "http://127.0.0.1:$mp/metrics" \
        >"$dir/$1.head" || fail "GET /metrics failed"
    grep -q '^200 text/plain; version=0.0.4' "$dir/$1.head" ||
        fail "GET /metrics answered $(cat "$dir/$1.head")"
    promtool check metrics <"$dir/$1.txt" >"$dir/$1.lint" 2>&1 ||
        fail "promtool check metrics: $(cat "$dir/$1.lint")"
}
# value FILE SERIES: the sample of SERIES (name and labels, exactly) in a scrape.
value() {
    v=$(awk -v s="$2" '$1 == s { print $2 }' "$dir/$1.txt")
    [ -n "$v" ] || fail "no series $2 in the scrape"
    echo "${v%.*}"
}
scrape before
i=0
while [ $i -lt $n ]; do
    out=$("$troupe" call 127.0.0.1:$p1 --secret-file "$dir/secret" echo echo "{\"i\": $i}") ||
        fail "troupe call echo failed"
    [ "$out" = "{\"i\":$i}" ] || fail "echo answered $out"
    i=$((i + 1))
done
"$troupe" call 127.0.0.1:$p1 --secret-file "$dir/secret" --timeout 300 nobody-here echo '1' \
    >/dev/null 2>&1
for k in 1 2 3; do
    "$troupe" call 127.0.0.1:$p1 --secret-file "$dir/secret" kv put "[\"put\", \"k$k\", $k]" \
        >/dev/null || fail "kv put failed"
done
"$troupe" call 127.0.0.1:$p1 --secret-file "$dir/secret" forbidden-here echo '1' \
    >/dev/null 2>&1 && fail "a call the policy denies was answered"
for k in 1 2 3 4 5 6; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "Idempotency-Key: m$k" --data '{"item": 1, "qty": 1}' "http://127.0.0.1:$hp/orders")
    [ "$code" = 503 ] || fail "POST /orders without an orders service answered $code, not 503"
done
for k in 1 2 3 4 5 6 7 8 9 10 11 12; do # topics: their homes spread over the three nodes
    "$troupe" call 127.0.0.1:$p1 --secret-file "$dir/secret" topics 4294864896 \
        "[\"metrics-t$k\", \"echo@n1\"]" >/dev/null || fail "SUBSCRIBE metrics-t$k failed"
done
scrape after
# the broker's own STATS answer (TR_TOPIC_MSG_STATS) right after the scrape: the same figures
stats=$("$troupe" call 127.0.0.1:$p1 --secret-file "$dir/secret" topics 4294864903 null) ||
    fail "STATS to the topics broker failed"
[ "$(value after troupe_topics_up)" = 1 ] || fail "the scrape got no answer from the broker"
[ "$(value after troupe_topics_subscriptions)" = "$(echo "$stats" | sed 's/^\[\([0-9]*\),.*/\1/')" ] ||
    fail "troupe_topics_subscriptions $(value after troupe_topics_subscriptions), STATS $stats"
# grows SERIES AT_LEAST
grows() {
    b=$(value before "$1")
    a=$(value after "$1")
    [ $((a - b)) -ge "$2" ] || fail "$1 went from $b to $a: want +$2 at least"
    echo "metrics_node.sh: $1 +$((a - b))"
}
grows 'troupe_actor_messages_in_total{type="echo"}' $n
grows 'troupe_actor_messages_out_total{type="echo"}' $n
grows 'troupe_messages_delivered_total' $n
grows 'troupe_transport_frames_total{direction="in"}' $n
grows 'troupe_transport_frames_total{direction="out"}' $n
grows 'troupe_dead_letters_total{reason="no_actor"}' 1
grows 'troupe_peer_frames_total{peer="n2",direction="in"}' 1 # heartbeats, every 100 ms
grows 'troupe_peer_bytes_total{peer="n2",direction="in"}' 1
grows 'troupe_peer_bytes_total{peer="n2",direction="out"}' 1 # heartbeats: bytes, not frames
grows 'troupe_store_commit_writes_count' 1
grows 'troupe_topics_subscriptions' 1
grows 'troupe_store_commit_writes_sum' 3
[ "$(value after 'troupe_store_commit_writes_bucket{le="+Inf"}')" = \
    "$(value after 'troupe_store_commit_writes_count')" ] || fail "the +Inf bucket is not the count"
[ "$(value after 'troupe_actor_live{type="echo"}')" = 1 ] || fail "not one live echo actor"
# exactly N: every commit is timed, one refusal, one open, one call refused by the breaker
exactly() {
    b=$(value before "$1")
    a=$(value after "$1")
    [ $((a - b)) -eq "$2" ] || fail "$1 went from $b to $a: want +$2"
    echo "metrics_node.sh: $1 +$((a - b))"
}
commits=$(($(value after troupe_store_commit_writes_count) - $(value before troupe_store_commit_writes_count)))
exactly 'troupe_store_commit_seconds_count' $commits
[ "$(value after 'troupe_store_commit_seconds_bucket{le="+Inf"}')" = \
    "$(value after 'troupe_store_commit_seconds_count')" ] || fail "latency: +Inf is not the count"
map=$(value after troupe_store_map_bytes)
used=$(value after troupe_store_used_bytes)
[ "$used" -gt 0 ] && [ "$used" -le "$map" ] || fail "store used $used bytes of a map of $map"
exactly 'troupe_policy_refused_total' 1
[ "$(value before 'troupe_breaker_state{owner="gateway",breaker="orders"}')" = 0 ] || fail "breaker not closed"
[ "$(value after 'troupe_breaker_state{owner="gateway",breaker="orders"}')" = 1 ] || fail "breaker not open"
exactly 'troupe_breaker_opens_total{owner="gateway",breaker="orders"}' 1
exactly 'troupe_breaker_rejected_total{owner="gateway",breaker="orders"}' 1
[ "$(value after 'troupe_breaker_state{owner="gateway",breaker="catalog"}')" = 0 ] || fail "catalog breaker moved"
grep -q 'owner="orders"' "$dir/after.txt" && fail "a node without the shop exports orders breakers"
[ "$(value after 'troupe_actor_spawned_total{type="troupe-status"}')" = 1 ] ||
    fail "not one status actor spawned"
[ "$(value after 'troupe_peer_state{peer="n2",state="up"}')" = 1 ] || fail "n2 not up in /metrics"

kill -9 "$n3"
t0=$(now_ms)
bound=$((down_ms + 250 + 8000)) # the detector's bound, the view's refresh, a loaded machine
while :; do
    js=$(status --json 2>/dev/null)
    [ "$(state n3 "$js")" = down ] && break
    [ $(($(now_ms) - t0)) -lt $bound ] || fail "n3 not down after ${bound} ms: $js"
    sleep 0.1
done
echo "metrics_node.sh: n3 shown down $(($(now_ms) - t0)) ms after kill -9 (down-ms $down_ms)"
[ "$(state n2 "$js")" = up ] || fail "n2 not up after n3's kill: $js"
scrape dead
[ "$(value dead 'troupe_peer_state{peer="n3",state="down"}')" = 1 ] || fail "n3 not down in /metrics"
echo "metrics_node.sh: ok"
