#!/bin/sh
# The engine seam and the include arrows (DESIGN.md). Fails with the offending lines.
#  1. clock_gettime / time( / rand( / pthread_create / socket calls / uv_* appear only in
#     the files allowed to use them: the real engine, the transport, and the CLI's process
#     plumbing (which runs no actor code).
#  2. runtime/ includes nothing from cluster/, sim/, actors/; actors/ include only troupe.h
#     (and their own headers); cluster/ and sim/ never include each other.
cd "$(dirname "$0")/.." || exit 2
fail=0
allowed='^(runtime/engine_real\.c|runtime/store\.c|cluster/transport\.c|cluster/handshake\.c|cli/.*|bench/.*|tests/.*)$'
pat='\bclock_gettime\b|(^|[^.>_a-z])(time|rand|srand|random)\(|\bpthread_create\b|\bsocket\(|\buv_[a-z_]+\(|gettimeofday'
for f in $(git ls-files -co --exclude-standard 'runtime/*.c' 'runtime/*.h' 'cluster/*.c' 'cluster/*.h' 'sim/*.c' 'sim/*.h' 'actors/*.c' 'actors/*.h'); do
    echo "$f" | grep -Eq "$allowed" && continue
    hits=$(grep -nE "$pat" "$f" | grep -vE '^\s*[0-9]+:\s*(/\*|\*|//)')
    if [ -n "$hits" ]; then
        echo "tidy: $f calls a nondeterministic or engine-only function:"; echo "$hits"; fail=1
    fi
done
arrow() { # folder, forbidden include regex
    hits=$(git ls-files -co --exclude-standard "$1/*.c" "$1/*.h" | xargs -r grep -nE "#include \"($2)/" 2>/dev/null)
    if [ -n "$hits" ]; then echo "tidy: $1/ must not include $2/:"; echo "$hits"; fail=1; fi
}
arrow runtime 'cluster|sim|actors|cli|bench'
arrow actors 'runtime|cluster|sim|cli|bench'
arrow cluster 'sim|actors|cli|bench'
arrow sim 'cluster|cli|bench'
[ $fail -eq 0 ] && echo "tidy: ok"
exit $fail
