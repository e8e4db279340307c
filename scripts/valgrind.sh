#!/bin/sh
# Memory checks under valgrind memcheck: the real engine's stress program, a short chaos
# simulation with crashes (the sim engine, stores, registers, checkers) and `troupe check`
# on the history it wrote. Built for a baseline CPU (valgrind 3.19 does not decode
# AVX-512). Any error or definite leak fails.
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || {
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >&2
}
ZIG=$(sh scripts/bootstrap.sh | tail -n 1)
P=zig-out-valgrind
$ZIG build install stress -Dcpu=baseline -Doptimize=ReleaseSafe --prefix "$P"
VG="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --quiet"
for bin in "$P"/bin/stress_*; do
    echo "valgrind: $bin"
    $VG "$bin"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "valgrind: troupe sim (10 s virtual, partition + crash)"
$VG "$P/bin/troupe" sim --duration 10s --nemesis partition,crash --history "$tmp/h.json" >"$tmp/sim.out" || {
    cat "$tmp/sim.out"; exit 1; }
tail -n 2 "$tmp/sim.out"
echo "valgrind: troupe check"
$VG "$P/bin/troupe" check "$tmp/h.json.cp" >/dev/null
echo "valgrind: clean"
