#!/bin/sh
# An embedder's view of an installed prefix: a C program built with pkg-config, with and
# without --static (libtroupe is a static library, so both forms must name every library it
# needs), and a C++17 program that includes troupe.h and checks that C++ sees the C layout.
# Usage: embed.sh PREFIX   (as installed by zig build --prefix PREFIX)
set -u
prefix=$1
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cxx=${CXX:-g++}
PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
for mode in "" --static; do
    # shellcheck disable=SC2046,SC2086
    if ! "$cc" -std=c11 -Wall -Werror "$here/program.c" -o "$tmp/program" \
        $(pkg-config --cflags --libs $mode troupe) >"$tmp/log" 2>&1; then
        echo "embed: a program does not link with pkg-config --libs ${mode:-(shared form)} troupe:"
        grep -m 5 -E 'undefined|error' "$tmp/log"
        fail=1
        continue
    fi
    "$tmp/program" || { echo "embed: the program built with pkg-config ${mode} failed"; fail=1; }
done
# shellcheck disable=SC2046
if ! { "$cc" -std=c11 -Wall -Werror -c "$here/layout.c" -o "$tmp/layout.o" \
    $(pkg-config --cflags troupe) &&
    "$cxx" -std=c++17 -Wall -Wextra -Werror -pedantic "$here/cxx_header.cpp" "$tmp/layout.o" \
        -o "$tmp/cxx" $(pkg-config --cflags --libs troupe); } >"$tmp/log" 2>&1; then
    echo "embed: troupe.h does not compile as C++17:"
    head -n 10 "$tmp/log"
    fail=1
else
    "$tmp/cxx" || fail=1
fi
[ $fail -eq 0 ] && echo "embed: ok"
exit $fail
