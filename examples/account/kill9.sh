#!/bin/sh
# The account service on three real nodes (troupe node --load troupe-account.so): deposits
# through n1 to an account whose entity n2 hosts, its balance read through n3; kill -9 of n2;
# once n2's lease has lapsed the account is activated on a live node from its durable state
# and served through n1 again, with every acknowledged deposit; n2 restarts on its data
# directory and the balance still holds.
# Usage: kill9.sh TROUPE MODULE
set -u
troupe=$1 module=$2
dir=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "kill9.sh: $*"
    for n in n1 n2 n3; do [ -f "$dir/$n.log" ] && tail -5 "$dir/$n.log"; done
    exit 1
}
printf 'account-kill9-test-secret-0123456789' >"$dir/secret"
unset TROUPE_SECRET
common="--secret-file $dir/secret --replicas n1,n2,n3 --heartbeat-ms 100 --down-ms 1000"

# start NAME [SEEDS]: starts a node on a free port with its own data directory.
start() {
    seeds=${2:+--seeds 127.0.0.1:$2}
    : >"$dir/$1.log"
    "$troupe" node --name "$1" --listen 127.0.0.1:0 $seeds --data "$dir/$1.data" $common \
        --load "$module" 2>"$dir/$1.log" &
    eval "pid_$1=$!"
    pids="$pids $!"
}
# port NAME: waits for NAME's node_ready line and prints its port.
port() {
    i=0
    while [ $i -lt 100 ]; do
        p=$(sed -n 's/.*event=node_ready .*port=\([0-9]*\).*/\1/p' "$dir/$1.log" 2>/dev/null)
        [ -n "$p" ] && { echo "$p"; return 0; }
        i=$((i + 1))
        sleep 0.1
    done
    return 1
}
# call PORT TYPE JSON: one request; prints the answer (a number: the balance).
call() {
    "$troupe" call 127.0.0.1:$1 account "$2" "$3" --secret-file "$dir/secret" --timeout 3000 \
        --load "$module" 2>&1
}
# until_number PORT TYPE JSON: retries while the cluster forms, prints the first balance.
until_number() {
    i=0
    while [ $i -lt 50 ]; do
        out=$(call "$@")
        case $out in '' | *[!0-9]*) ;; *) echo "$out"; return 0 ;; esac
        i=$((i + 1))
        sleep 0.2
    done
    echo "$out"
    return 1
}

start n1
p1=$(port n1) || fail "n1 did not start"
start n2 "$p1"
start n3 "$p1"
port n2 >/dev/null || fail "n2 did not start"
p3=$(port n3) || fail "n3 did not start"

# Account 4's shard starts on n2 (shard 4 % 3 nodes == index 1). Every acknowledged deposit
# is counted.
acked=$(until_number "$p1" deposit '[4, 100]') || fail "first deposit: $acked"
for k in 1 2 3 4 5; do
    out=$(call "$p1" deposit '[4, 1]')
    case $out in '' | *[!0-9]*) ;; *) acked=$out ;; esac
done
[ "$acked" -ge 100 ] || fail "deposits: $acked"
out=$(until_number "$p3" balance '[4]') || fail "balance through n3: $out"
[ "$out" = "$acked" ] || fail "balance through n3 is $out, acknowledged $acked"

killed=$(date +%s%N)
kill -9 "$pid_n2"
# Served again through n1 once n2's lease (2 s, + 10%) has lapsed and the shard has moved.
out=$(until_number "$p1" balance '[4]') || fail "balance after the kill: $out"
[ "$out" = "$acked" ] || fail "after kill -9 of its host the balance is $out, acknowledged $acked"
served=$(date +%s%N)
out=$(until_number "$p3" deposit '[4, 1]') || fail "deposit after the kill: $out"
[ "$out" = $((acked + 1)) ] || fail "deposit after the kill: $out, expected $((acked + 1))"
acked=$out
echo "kill9.sh: account 4 served again $(((served - killed) / 1000000)) ms after kill -9 of its host"

start n2 "$p1"
port n2 >/dev/null || fail "n2 did not restart"
out=$(until_number "$p3" balance '[4]') || fail "balance after the restart: $out"
[ "$out" = "$acked" ] || fail "after kill -9 and restart the balance is $out, acknowledged $acked"
echo "kill9.sh: ok (balance $out kept across kill -9, the move and the restart)"
