#!/bin/sh
# `troupe sim --load` end to end with a service module (tests/harness/svc_reg.c): a run holds
# and prints its trace hash and replay line, the partition and each side's availability (text
# and JSON); the replay line gives the same hash; a planted
# bug is violated in a sweep, with the first failing seed's replay line; --check-determinism
# runs each seed of a range twice (text, and one JSON line per seed) and its first run has the
# run's own trace hash; --history writes what `troupe check` reads and --lin-budget is kept
# in the replay line; what cannot apply is a one-line error, exit 2.
# Usage: load.sh TROUPE MODULE
set -u
troupe=$1 module=$2
fail() { echo "load.sh: $*"; exit 1; }
out=$("$troupe" sim --load "$module" --workload reg --seed 3 --duration 5s 2>&1)
[ $? -eq 0 ] || fail "a correct service did not hold: $out"
hash=$(echo "$out" | sed -n 's/^trace-hash: //p')
replay=$(echo "$out" | sed -n 's/^replay: //p')
[ -n "$hash" ] && [ -n "$replay" ] || fail "no trace-hash or replay line: $out"
case $replay in *"--load $module --workload reg --seed 3"*) ;; *) fail "replay: $replay" ;; esac
# each node's clients use their own node's register, which answers alone: both sides available
echo "$out" | grep -q "^  partition: minority {n[0-9],n[0-9]} | majority {" || fail "no partition: $out"
echo "$out" | grep -q "^  available, minority side 100.0% ([1-9]" || fail "minority side: $out"
json=$("$troupe" sim --load "$module" --workload reg --seed 3 --duration 5s --json 2>&1)
case $json in *'"partitioned":true,"minority":["n'*'"availability_minority":1.0000,'*) ;;
*) fail "JSON without the partition's sides: $json" ;; esac
again=$(sh -c "'$troupe' ${replay#troupe }" 2>&1 | sed -n 's/^trace-hash: //p')
[ "$again" = "$hash" ] || fail "the replay line gave trace-hash $again, not $hash"
out=$("$troupe" sim --load "$module" --workload reg --seeds 1..3 --duration 3s --bug phantom 2>&1)
[ $? -eq 1 ] || fail "the planted bug was not caught: $out"
echo "$out" | grep -q "^first failing seed 1; replay: troupe sim --load .* --bug phantom" ||
    fail "no first failing seed with its replay line: $out"
out=$("$troupe" sim --load "$module" --workload reg --seed 3 --duration 5s --check-determinism 2>&1)
[ $? -eq 0 ] || fail "check-determinism: $out"
echo "$out" | grep -q "^trace-hash: $hash (first run) $hash (second run)$" ||
    fail "check-determinism did not run the same experiment ($hash): $out"
echo "$out" | grep -q "^replay: troupe sim --load .* --seed 3 .*--check-determinism$" ||
    fail "check-determinism: no replay line: $out"
out=$("$troupe" sim --load "$module" --workload reg --seeds 1..2 --duration 2s --check-determinism \
    --json 2>/dev/null)
[ $? -eq 0 ] || fail "check-determinism --seeds --json: $out"
[ "$(echo "$out" | grep -c '"identical":true')" -eq 2 ] || fail "not 2 identical lines: $out"
hist=$(mktemp)
out=$("$troupe" sim --load "$module" --workload reg --seed 3 --duration 2s --history "$hist" \
    --lin-budget 7 2>&1)
[ $? -eq 0 ] || fail "--history --lin-budget: $out"
echo "$out" | grep -q "^replay: .* --lin-budget 7" || fail "the replay line lost the budget: $out"
"$troupe" check "$hist" 2>&1 | grep -q "^history: .*: [1-9][0-9]* ops" ||
    fail "troupe check cannot read the history --history wrote"
rm -f "$hist"
for args in "--bug nope" "--nodes 2" "--nemesis partition,,crash" "--nemesis meteor-strike"; do
    out=$("$troupe" sim --load "$module" --workload reg $args 2>&1)
    [ $? -eq 2 ] || fail "$args: not exit 2: $out"
    [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "$args: not one line: $out"
    case $out in *"see --help") ;; *) fail "$args: no 'see --help': $out" ;; esac
done
echo "load.sh: ok"
