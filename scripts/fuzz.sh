#!/bin/sh
# fuzz.sh — builds the fuzz targets of tests/fuzz/ with libFuzzer (Debian's clang-14 and
# libclang-rt-14-dev, which scripts/bootstrap.sh installs) under AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs each one.
#
#   sh scripts/fuzz.sh                 each target for 10 s (what the test step runs)
#   sh scripts/fuzz.sh --seconds 600   each target for 10 minutes
#   sh scripts/fuzz.sh --runs 10000000 each target for 10 M executions
#   sh scripts/fuzz.sh --only fuzz_link --seconds 60
#
# The corpus in tests/fuzz/corpus/<target>/ seeds each run and is only read; inputs the
# fuzzer finds go to a scratch directory. A crash, a leak or a sanitizer report fails the
# script (exit 1) and leaves the input in zig-out/fuzz/crashes/ with the command that
# replays it. Exit 2: usage or a missing tool.
set -eu
cd "$(dirname "$0")/.."

seconds=10
runs=
only=
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --runs) runs=${2:?--runs needs a value}; shift 2 ;;
    --only) only=${2:?--only needs a target}; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

CC=clang-14
if ! command -v $CC >/dev/null 2>&1 ||
    [ ! -f /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]; then
    echo "fuzz.sh: needs clang-14 and libclang-rt-14-dev (sh scripts/bootstrap.sh installs them)" >&2
    exit 2
fi

out=zig-out/fuzz
mkdir -p "$out/obj" "$out/crashes"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
flags="-std=gnu11 -D_GNU_SOURCE -fno-strict-aliasing -O1 -g -fno-omit-frame-pointer -Iinclude -I. $san"

# The library's sources, from the same lists build.zig compiles (libtroupe).
sources=$(python3 - <<'PY'
import re
lists = {"runtime": ["lib"], "proto": ["lib"], "cluster": ["lib"], "sim": ["lib"],
         "actors": ["lib", "raft", "entity", "topics", "linkv"], "harness": ["lib"]}
for d, names in lists.items():
    text = open(f"{d}/sources.zig").read()
    for n in names:
        m = re.search(r"pub const " + n + r" = \[_\]\[\]const u8\{(.*?)\};", text, re.S)
        for f in re.findall(r'"([^"]+\.c)"', m.group(1)):
            print(f)
PY
)

# Objects are rebuilt when their source or any header is newer (a coarse but safe rule).
newest_header=$(find include runtime proto cluster sim actors harness -name '*.h' -newer "$out/lib.a" 2>/dev/null | head -1 || true)
objs=
for src in $sources; do
    obj="$out/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$newest_header" ]; then
        $CC $flags -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    fi
    objs="$objs $obj"
done
rm -f "$out/lib.a"
ar rcs "$out/lib.a" $objs

libs="-luv -lmsgpackc -llmdb -lcrypto -ljansson -lpthread -lm"
fail=0
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    [ -n "$only" ] && [ "$only" != "$t" ] && continue
    $CC $flags -fsanitize=fuzzer "$src" "$out/lib.a" $libs -o "$out/$t"
    scratch=$(mktemp -d)
    corpus=tests/fuzz/corpus/$t
    mkdir -p "$corpus"
    if [ -n "$runs" ]; then limit="-runs=$runs"; else limit="-max_total_time=$seconds"; fi
    log="$out/$t.log"
    if "$out/$t" $limit -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
        -artifact_prefix="$out/crashes/$t-" "$scratch" "$corpus" >"$log" 2>&1; then
        done_line=$(grep -E '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs)' "$log" | tail -1)
        echo "fuzz.sh: $t ok: $done_line"
    else
        echo "fuzz.sh: $t FAILED; replay: $out/$t $out/crashes/$t-*" >&2
        grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -20 >&2
        fail=1
    fi
    rm -rf "$scratch"
done
exit $fail
