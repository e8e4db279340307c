#!/bin/sh
# Installs what troupe needs on a Debian 12 machine, idempotently, with pinned versions:
# Debian's -dev packages for libuv, msgpack-c, LMDB, Criterion, OpenSSL (libcrypto, for
# HMAC-SHA256), jansson (JSON histories and the HTTP gateway's bodies), libmicrohttpd (the
# HTTP gateway's server), pkg-config, gcc and g++ (troupe.h is checked as C++), curl and wrk
# (the gateway's test and benchmark); and Zig from PyPI's ziglang at exactly ZIG_VERSION, and clang-format from PyPI at
# exactly CLANG_FORMAT_VERSION (scripts/format.sh), and edn_format from PyPI at exactly
# EDN_FORMAT_VERSION (the test step reads exported EDN histories with it), and
# openapi-spec-validator, schemathesis and its hypothesis at exactly the versions below (the
# gateway's test validates its contract and runs a property-based test against it),
# Debian's clang-14 with libclang-rt-14-dev (libFuzzer, for scripts/fuzz.sh),
# Debian's chromium (tests/report/ opens `troupe sim --report` pages in it headless; not
# pinned: Debian replaces its chromium with each security release),
# Debian's prometheus at exactly PROMETHEUS_VERSION for its promtool (the metrics test),
# kubernetes-validate (deploy/k8s's manifests checked offline against bundled schemas), and
# Debian's nftables and iproute2 (the real-process chaos test's partitions are nft rules in
# network namespaces, its delays tc netem).
# Prints the zig command to use on its last line (python3 -m ziglang).
set -eu
ZIG_VERSION=0.16.0
CLANG_FORMAT_VERSION=19.1.7
EDN_FORMAT_VERSION=0.8.0
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
SCHEMATHESIS_VERSION=3.39.16
HYPOTHESIS_VERSION=6.123.2
KUBERNETES_VALIDATE_VERSION=1.37.0
PKGS="libuv1-dev libmsgpack-dev liblmdb-dev libcriterion-dev libssl-dev libjansson-dev libmicrohttpd-dev curl wrk pkg-config gcc g++ libc6-dev python3-pip clang-14 libclang-rt-14-dev chromium openssl nftables iproute2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "bootstrap: installing Debian packages:$missing" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
fi
# promtool, from Debian 12's prometheus package at its exact version: the metrics test checks
# a live node's page with `promtool check metrics` (no recommends: the server is not needed).
PROMETHEUS_VERSION=2.42.0+ds-5+deb12u1
if ! dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed"; then
    echo "bootstrap: installing prometheus=$PROMETHEUS_VERSION (promtool)" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "prometheus=$PROMETHEUS_VERSION" >&2
fi
have=$(python3 -m ziglang version 2>/dev/null || true)
if [ "$have" != "$ZIG_VERSION" ]; then
    echo "bootstrap: installing ziglang==$ZIG_VERSION from PyPI (have: ${have:-none})" >&2
    python3 -m pip install -q "ziglang==$ZIG_VERSION" >&2 ||
        python3 -m pip install -q --break-system-packages "ziglang==$ZIG_VERSION" >&2
fi
if ! python3 -m pip show clang-format 2>/dev/null | grep -qx "Version: $CLANG_FORMAT_VERSION"; then
    echo "bootstrap: installing clang-format==$CLANG_FORMAT_VERSION from PyPI" >&2
    python3 -m pip install -q "clang-format==$CLANG_FORMAT_VERSION" >&2 ||
        python3 -m pip install -q --break-system-packages "clang-format==$CLANG_FORMAT_VERSION" >&2
fi
if ! python3 -m pip show edn_format 2>/dev/null | grep -qx "Version: $EDN_FORMAT_VERSION"; then
    echo "bootstrap: installing edn_format==$EDN_FORMAT_VERSION from PyPI" >&2
    python3 -m pip install -q "edn_format==$EDN_FORMAT_VERSION" >&2 ||
        python3 -m pip install -q --break-system-packages "edn_format==$EDN_FORMAT_VERSION" >&2
fi
# The gateway test's Python tools, each at its pinned version (hypothesis too: schemathesis
# 3.39 fails at run time with the newest one).
for pin in "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" \
    "schemathesis==$SCHEMATHESIS_VERSION" "hypothesis==$HYPOTHESIS_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"; do
    if ! python3 -m pip show "${pin%%==*}" 2>/dev/null | grep -qx "Version: ${pin#*==}"; then
        echo "bootstrap: installing $pin from PyPI" >&2
        python3 -m pip install -q "$pin" >&2 ||
            python3 -m pip install -q --break-system-packages "$pin" >&2
    fi
done
have=$(python3 -m ziglang version)
[ "$have" = "$ZIG_VERSION" ] || { echo "bootstrap: zig is $have, need $ZIG_VERSION" >&2; exit 2; }
echo "python3 -m ziglang"
