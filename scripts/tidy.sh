#!/bin/sh
# The engine seam and the include arrows (DESIGN.md). Fails with the offending lines.
#  1. clock_gettime / time( / rand( / random( / pthread_create / socket( / uv_* appear only
#     in the files allowed to use them: the real engine and the store (runtime/engine_real.c,
#     runtime/store.c), the transport (cluster/), the CLI and benchmarks (which run no actor
#     code of their own), and tests.
#  2. runtime/ includes nothing from cluster/, sim/, actors/; actors/ include only troupe.h
#     and their own headers; cluster/ and sim/ never include each other.
# Usage: tidy.sh [ROOT]   (default: the repository this script is in)
root=${1:-"$(dirname "$0")/.."}
cd "$root" || exit 2
fail=0
allowed='^(runtime/engine_real\.c|runtime/store\.c|cluster/.*|cli/.*|bench/.*|tests/.*)$'
pat='\bclock_gettime\b|(^|[^.>_a-z])(time|rand|srand|random)\(|\bpthread_create\b|\bsocket\(|\buv_[a-z_]+\(|gettimeofday'
files() { find runtime cluster sim actors -name '*.[ch]' 2>/dev/null | sort; }
for f in $(files); do
    echo "$f" | grep -Eq "$allowed" && continue
    hits=$(grep -nE "$pat" "$f" | grep -vE '^\s*[0-9]+:\s*(/\*|\*|//)')
    if [ -n "$hits" ]; then
        echo "tidy: $f calls a nondeterministic or engine-only function:"; echo "$hits"; fail=1
    fi
done
arrow() { # folder, forbidden include regex
    hits=$(find "$1" -name '*.[ch]' 2>/dev/null | sort | xargs -r grep -nE "#include \"($2)/")
    if [ -n "$hits" ]; then echo "tidy: $1/ must not include $2/:"; echo "$hits"; fail=1; fi
}
arrow runtime 'cluster|sim|actors|cli|bench'
arrow actors 'runtime|cluster|sim|cli|bench'
arrow cluster 'sim|actors|cli|bench'
arrow sim 'cluster|cli|bench'
[ $fail -eq 0 ] && echo "tidy: ok"
exit $fail
