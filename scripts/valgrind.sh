#!/bin/sh
# Builds the stress programs without sanitizers for a baseline CPU (valgrind 3.19 does not
# decode AVX-512) and runs them under memcheck; any error or definite leak fails.
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || {
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >&2
}
ZIG=$(sh scripts/bootstrap.sh | tail -n 1)
$ZIG build stress -Dcpu=baseline -Doptimize=ReleaseSafe --prefix zig-out-valgrind
for bin in zig-out-valgrind/bin/stress_*; do
    echo "valgrind: $bin"
    valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --quiet "$bin"
done
