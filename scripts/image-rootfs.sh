#!/bin/sh
# image-rootfs.sh BINARY [TAG]: builds troupe's container image from Debian's package
# registry alone, without pulling any image. mmdebstrap (Debian's package, installed on demand)
# makes a Debian 12 root file system of the "essential" variant plus the troupe binary's
# runtime libraries and a non-root user "troupe" (uid 10001, home /var/lib/troupe); the binary
# is copied to /usr/local/bin/troupe, the health check deploy/troupe-health.sh to
# /usr/local/bin/troupe-health, and the result is imported with `podman import` as
# troupe:VERSION (TAG overrides it), with the image's entrypoint, user, working directory,
# exposed ports, volume, PATH and health check. The base file system is cached in
# $TROUPE_IMAGE_CACHE (default /var/cache/troupe-image) under a key made of the suite, variant
# and package list, so a second build does not reach the registry. The image's file system is
# made in $TROUPE_IMAGE_ROOT (default: beside the cached base) and kept there; the script
# prints its directory on its last line. Without podman it stops there, says so and exits 0.
# The same image built by podman from a pulled base is the Containerfile.
set -eu
bin=${1:?usage: image-rootfs.sh BINARY [TAG]}
[ -x "$bin" ] || { echo "image-rootfs.sh: $bin is not an executable" >&2; exit 2; }
SUITE=bookworm
VARIANT=essential
# The troupe binary's NEEDED libraries (ldd and dpkg -S on a built binary); apt adds what
# they depend on (gnutls for libmicrohttpd, and so on).
LIBS="libuv1 libmsgpackc2 liblmdb0 libssl3 libjansson4 libmicrohttpd12"
cache=${TROUPE_IMAGE_CACHE:-/var/cache/troupe-image}
key=$(printf '%s %s %s user=10001 merged-usr\n' "$SUITE" "$VARIANT" "$LIBS" | sha256sum |
    cut -c1-16)
base="$cache/base-$key.tar"
if [ ! -s "$base" ]; then
    if ! command -v mmdebstrap >/dev/null 2>&1; then
        echo "image-rootfs.sh: installing mmdebstrap (Debian's package)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >&2
    fi
    mkdir -p "$cache"
    echo "image-rootfs.sh: building the $SUITE base ($VARIANT + $LIBS) into $base" >&2
    # The user and group are written directly: the essential variant has no useradd.
    # The merged-usr hook makes /bin, /lib, /sbin links itself, so the usrmerge package (and
    # the perl it needs, half the file system) stays out.
    mmdebstrap --quiet --variant="$VARIANT" --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --include="$(echo $LIBS | tr ' ' ,)" \
        --customize-hook='echo "troupe:x:10001:10001:troupe:/var/lib/troupe:/usr/sbin/nologin" \
            >> "$1/etc/passwd"' \
        --customize-hook='echo "troupe:x:10001:" >> "$1/etc/group"' \
        --customize-hook='echo "troupe:!:19000::::::" >> "$1/etc/shadow"' \
        --customize-hook='mkdir -p "$1/var/lib/troupe" && chown 10001:10001 "$1/var/lib/troupe"' \
        --customize-hook='cd "$1" && rm -rf usr/share/doc usr/share/man usr/share/locale \
            var/cache/apt var/lib/apt/lists' \
        "$SUITE" "$base.part.tar" >&2
    mv "$base.part.tar" "$base"
fi
root=${TROUPE_IMAGE_ROOT:-$cache/rootfs-$key}
rm -rf "$root"
mkdir -p "$root"
tar -xf "$base" -C "$root" --numeric-owner
install -m 0755 "$bin" "$root/usr/local/bin/troupe"
install -m 0755 "$(dirname "$0")/../deploy/troupe-health.sh" "$root/usr/local/bin/troupe-health"
# The mount points of the cluster secret and of /dev/shm (the simulator's stores), and a hosts
# file that a container runtime replaces.
mkdir -p "$root/etc/troupe" "$root/dev/shm"
[ -e "$root/etc/hosts" ] || printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
missing=$(chroot "$root" /usr/bin/ldd /usr/local/bin/troupe 2>&1 | grep 'not found' || true)
if [ -n "$missing" ]; then
    echo "image-rootfs.sh: libraries missing in the image: $missing" >&2
    exit 1
fi
if ! command -v podman >/dev/null 2>&1; then
    echo "image-rootfs.sh: podman not installed: root file system only" >&2
    echo "$root"
    exit 0
fi
tag=${2:-troupe:$("$bin" version | awk '{print $2}')}
old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
tar -C "$root" --numeric-owner -cf "$root.tar" .
imported=$(podman import --quiet \
    --change 'ENTRYPOINT ["/usr/local/bin/troupe"]' \
    --change 'CMD ["--help"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'USER troupe' \
    --change 'WORKDIR /var/lib/troupe' \
    --change 'VOLUME /var/lib/troupe' \
    --change 'EXPOSE 7401/tcp' --change 'EXPOSE 8080/tcp' --change 'EXPOSE 9090/tcp' \
    "$root.tar" "$tag")
rm -f "$root.tar"
# podman import takes no HEALTHCHECK: buildah (podman's dependency) adds it without running
# anything, into a docker-format image (the OCI format has no health check).
if command -v buildah >/dev/null 2>&1; then
    ctr=$(buildah from --quiet --name "troupe-image-$$" --format docker "$tag")
    buildah config --healthcheck 'CMD /usr/local/bin/troupe-health' --healthcheck-interval 10s \
        --healthcheck-timeout 5s --healthcheck-start-period 10s --healthcheck-retries 3 "$ctr"
    buildah commit --quiet --format docker --rm "$ctr" "$tag" >/dev/null
else
    echo "image-rootfs.sh: no buildah: the image has no HEALTHCHECK" >&2
fi
# The images the tag named before (and the import's, under the health check's layer) go.
new=$(podman image inspect --format '{{.Id}}' "$tag")
for id in $old $imported; do
    [ "${id#sha256:}" = "$new" ] || podman rmi "$id" >/dev/null 2>&1 || true
done
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image-rootfs.sh: imported $tag ($size bytes)" >&2
echo "$root"
