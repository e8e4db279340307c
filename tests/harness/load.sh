#!/bin/sh
# `troupe sim --load` end to end with a service module (tests/harness/svc_reg.c): a run holds
# and prints its trace hash and replay line; the replay line gives the same hash; a planted
# bug is violated in a sweep, with the first failing seed's replay line; what cannot apply
# is a one-line error, exit 2.
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
again=$(sh -c "'$troupe' ${replay#troupe }" 2>&1 | sed -n 's/^trace-hash: //p')
[ "$again" = "$hash" ] || fail "the replay line gave trace-hash $again, not $hash"
out=$("$troupe" sim --load "$module" --workload reg --seeds 1..3 --duration 3s --bug phantom 2>&1)
[ $? -eq 1 ] || fail "the planted bug was not caught: $out"
echo "$out" | grep -q "^first failing seed 1; replay: troupe sim --load .* --bug phantom" ||
    fail "no first failing seed with its replay line: $out"
for args in "--bug nope" "--nodes 2" "--nemesis partition,,crash" "--nemesis meteor-strike"; do
    out=$("$troupe" sim --load "$module" --workload reg $args 2>&1)
    [ $? -eq 2 ] || fail "$args: not exit 2: $out"
    [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "$args: not one line: $out"
    case $out in *"see --help") ;; *) fail "$args: no 'see --help': $out" ;; esac
done
echo "load.sh: ok"
