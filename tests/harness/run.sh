#!/bin/sh
# Runs the service loader's suite: checks that the test service modules carry no copy of the
# runtime (nm -D defines no tr_ symbol), then runs the suite with their paths in
# TR_SVC_TEST, TR_SVC_ABI, TR_SVC_INITFAIL, TR_SVC_NOENTRY and TR_SVC_OWNCOPY (the one module
# that defines a tr_ function on purpose, for the loader to refuse).
# Usage: run.sh SUITE TROUPE_BIN SVC_TEST SVC_ABI SVC_INITFAIL SVC_NOENTRY SVC_OWNCOPY
set -u
suite=$1 troupe=$2
TR_SVC_TEST=$3 TR_SVC_ABI=$4 TR_SVC_INITFAIL=$5 TR_SVC_NOENTRY=$6 TR_SVC_OWNCOPY=$7
export TR_SVC_TEST TR_SVC_ABI TR_SVC_INITFAIL TR_SVC_NOENTRY TR_SVC_OWNCOPY
for m in "$TR_SVC_TEST" "$TR_SVC_ABI" "$TR_SVC_INITFAIL" "$TR_SVC_NOENTRY"; do
    defined=$(nm -D --defined-only "$m" | awk '$3 ~ /^tr_/ { print $3 }')
    if [ -n "$defined" ]; then
        echo "harness: $m carries its own copy of:" $defined
        exit 1
    fi
done
nm -D --undefined-only "$TR_SVC_TEST" | grep -qw tr_reply || {
    echo "harness: $TR_SVC_TEST does not take tr_reply from its host"
    exit 1
}
exec sh "$(dirname "$0")/../run_suite.sh" "$suite" test_service "$troupe"
