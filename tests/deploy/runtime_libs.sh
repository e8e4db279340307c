#!/bin/sh
# runtime_libs.sh TROUPE: the image's runtime libraries are exactly what the binary needs.
# The Debian packages holding the binary's NEEDED libraries (readelf, dpkg -S) must be the
# LIBS of scripts/image-rootfs.sh and the run stage's apt-get install of the Containerfile;
# a library missing from either would make an image that cannot start, one too many a larger
# image. Skips (exit 0, saying why) without readelf or dpkg.
set -eu
bin=${1:?usage: runtime_libs.sh TROUPE}
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v readelf >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 ||
    { echo "runtime_libs.sh: SKIP: needs readelf and dpkg"; exit 0; }
need=$(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | while read -r so; do
    path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|AArch64/ {print $NF; exit}')
    [ -n "$path" ] || { echo "runtime_libs.sh: $so not found by ldconfig" >&2; exit 1; }
    dpkg -S "$(readlink -f "$path")" 2>/dev/null | cut -d: -f1 | head -1
done | grep -v '^libc6$' | sort -u | tr '\n' ' ')
script=$(sed -n 's/^LIBS="\(.*\)"$/\1/p' "$top/scripts/image-rootfs.sh" | tr ' ' '\n' | sort -u |
    tr '\n' ' ')
cfile=$(sed -n '/--no-install-recommends/{n;p}' "$top/Containerfile" | tr ' ' '\n' |
    grep '^[a-z0-9]' | sort -u | tr '\n' ' ')
ok=0
if [ "$need" != "$script" ]; then
    echo "runtime_libs.sh: image-rootfs.sh LIBS are '$script', the binary needs '$need'"
    ok=1
fi
if [ "$need" != "$cfile" ]; then
    echo "runtime_libs.sh: the Containerfile installs '$cfile', the binary needs '$need'"
    ok=1
fi
[ $ok -ne 0 ] || echo "runtime_libs.sh: ok: the binary needs (besides libc6) $need"
exit $ok
