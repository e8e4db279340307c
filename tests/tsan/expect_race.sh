#!/bin/sh
# Runs the planted race under ThreadSanitizer and succeeds only if TSan reports it (exit 66):
# proof that the -Dtsan=true build is really instrumented. Usage: expect_race.sh BINARY
out=$(TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$1" 2>&1)
rc=$?
if [ "$rc" -eq 66 ] && echo "$out" | grep -q "ThreadSanitizer: data race"; then
    echo "tsan: the planted race was reported, as it must be"
    exit 0
fi
echo "$out"
echo "tsan: the planted race was NOT reported (exit $rc): the TSan build is not instrumented" >&2
exit 1
