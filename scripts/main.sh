#!/bin/sh
# Builds troupe (ReleaseFast) and runs the main job (installs what is missing first).
set -eu
cd "$(dirname "$0")/.."
ZIG=$(sh scripts/bootstrap.sh | tail -n 1)
$ZIG build -Doptimize=ReleaseFast
exec ./zig-out/bin/troupe bench "$@"
