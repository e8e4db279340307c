#!/bin/sh
# Runs one Criterion suite and fails when it fails or when it ran no test at all
# (a linker that garbage-collects sections drops Criterion's tests and the run
# says "Tested: 0" and exits 0). Usage: run_suite.sh BINARY NAME [TROUPE_BIN]
bin=$1 name=$2
[ -n "${3:-}" ] && TROUPE_BIN=$3 && export TROUPE_BIN
out=$(mktemp) || exit 2
# A hung test must not hang the build: the whole suite (and the workers it forked) is
# stopped after TR_SUITE_TIMEOUT seconds (every suite takes well under a minute).
limit=${TR_SUITE_TIMEOUT:-300}
timeout --kill-after=10 "$limit" "$bin" --jobs "${TR_TEST_JOBS:-2}" ${TR_TEST_ARGS:-} >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "run_suite: $name did not finish within $limit s (a test hangs); failing" >&2
fi
tested=$(sed -n 's/.*Synthesis: Tested: \([0-9][0-9]*\).*/\1/p' "$out" | tail -n 1)
rm -f "$out"
if [ "$rc" -ne 0 ]; then
    echo "run_suite: $name FAILED (exit $rc)" >&2
    exit 1
fi
if [ -z "$tested" ] || [ "$tested" -eq 0 ]; then
    echo "run_suite: $name ran no test (Tested: ${tested:-none}); failing" >&2
    exit 1
fi
echo "run_suite: $name ok ($tested tests)"
