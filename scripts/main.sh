#!/bin/sh
# Builds troupe (ReleaseFast) and runs the main job: the default chaos simulation (5 nodes,
# a CP and an AP register under the same majority/minority partition). Installs what is
# missing first. Extra arguments go to `troupe sim` (e.g. --seed 7).
set -eu
cd "$(dirname "$0")/.."
ZIG=$(sh scripts/bootstrap.sh | tail -n 1)
$ZIG build -Doptimize=ReleaseFast
exec ./zig-out/bin/troupe sim "$@"
