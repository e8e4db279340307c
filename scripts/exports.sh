#!/bin/sh
# The exported symbols of libtroupe and of the binaries that host modules are exactly the
# functions include/troupe.h declares: nothing internal leaks to an embedder or a module (they
# could collide with its own symbols, or bind to internals), and nothing public is missing.
#
# Usage: exports.sh HEADER FILE...
#   HEADER  the public header (include/troupe.h)
#   FILE    a static library (*.a): its defined GLOBAL or WEAK symbols of DEFAULT visibility
#           (readelf -sW); or an executable or shared object: its dynamic symbols (nm -D
#           --defined-only)
# Fails when a FILE exports a symbol the header does not declare, or lacks one it declares
# (a function, or an object declared at the start of a line as `extern TYPE NAME;`).
#
# Allowed besides the header's functions, by pattern and only these:
#   - in executables, what the C runtime and the linker define in every program that exports
#     its symbols: _start, _init, _fini, main, _IO_stdin_used, __data_start, data_start,
#     __dso_handle, __bss_start, _edata, _end, __libc_csu_init, __libc_csu_fini;
#   - anywhere, sanitizer runtimes a build mode bundles (not ours): __ubsan_*, __asan_*,
#     __tsan_*, __sanitizer_*, __lsan_*.
set -u
[ $# -ge 2 ] || { echo "usage: exports.sh HEADER FILE..." >&2; exit 2; }
header=$1
shift
cc=${CC:-cc}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# The declared functions, as the compiler reads the header: gcc -aux-info writes one prototype
# per declared function with its file and line; static inline ones are not exported.
echo "#include \"$(basename "$header")\"" | "$cc" -x c -std=gnu11 -I"$(dirname "$header")" \
    -fsyntax-only -aux-info "$tmp/aux" - || { echo "exports: $header does not compile" >&2; exit 2; }
name=$(basename "$header" | sed 's/\./\\./g')
grep -E "^/\* ([^ ]*/)?$name:[0-9]+:" "$tmp/aux" |
    sed 's|^/\*[^*]*\*/ *||' | grep -v '^static ' |
    sed 's/ *(.*$//; s/.*[^A-Za-z0-9_]//' >"$tmp/functions"
# ... and the objects it declares (the built-in linearizability models), each at the start of
# a line as `extern TYPE NAME;`: -aux-info lists functions only.
grep -E '^extern [^()"]*[A-Za-z_][A-Za-z0-9_]*;' "$header" | sed 's/;.*//; s/.*[^A-Za-z0-9_]//' |
    cat "$tmp/functions" - | LC_ALL=C sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || { echo "exports: no function declared in $header" >&2; exit 2; }

allowed_runtime='^(__ubsan_|__asan_|__tsan_|__sanitizer_|__lsan_)'
allowed_program='^(_start|_init|_fini|main|_IO_stdin_used|__data_start|data_start|__dso_handle|__bss_start|_edata|_end|__libc_csu_init|__libc_csu_fini)$'
fail=0
for f in "$@"; do
    case $f in
    *.a)
        readelf -sW "$f" | awk '$5 ~ /^(GLOBAL|WEAK)$/ && $6 == "DEFAULT" && $7 != "UND" &&
            $4 != "FILE" && $4 != "SECTION" { print $8 }' | sed 's/@.*//' |
            LC_ALL=C sort -u >"$tmp/exported"
        extra=$allowed_runtime
        ;;
    *)
        nm -D --defined-only "$f" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' |
            LC_ALL=C sort -u >"$tmp/exported"
        extra="$allowed_runtime|$allowed_program"
        ;;
    esac
    LC_ALL=C comm -23 "$tmp/exported" "$tmp/declared" | grep -Ev "$extra" >"$tmp/unknown"
    LC_ALL=C comm -13 "$tmp/exported" "$tmp/declared" >"$tmp/missing"
    if [ -s "$tmp/unknown" ]; then
        echo "exports: $f exports $(wc -l <"$tmp/unknown") symbols $header does not declare:"
        sed 's/^/  /' "$tmp/unknown"
        fail=1
    fi
    if [ -s "$tmp/missing" ]; then
        echo "exports: $f does not export $(wc -l <"$tmp/missing") functions $header declares:"
        sed 's/^/  /' "$tmp/missing"
        fail=1
    fi
    [ -s "$tmp/unknown" ] || [ -s "$tmp/missing" ] ||
        echo "exports: $f exports the $(wc -l <"$tmp/declared") functions of $header, nothing else"
done
exit $fail
