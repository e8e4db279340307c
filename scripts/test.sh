#!/bin/sh
# Builds troupe and runs every test suite (installs what is missing first).
set -eu
cd "$(dirname "$0")/.."
ZIG=$(sh scripts/bootstrap.sh | tail -n 1)
$ZIG build test --summary all "$@"
