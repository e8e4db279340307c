#!/bin/sh
# image_cluster.sh TROUPE: the container image on a 3-node cluster.
# Builds the image (scripts/image-rootfs.sh: a Debian 12 root file system from Debian's package
# registry, cached in /var/cache/troupe-image, plus TROUPE). Where podman can run a container,
# runs three nodes on a podman network and `troupe call`s across them. Where it cannot (crun's
# setrlimit refused, as in some sandboxes), says so and runs the image's file system instead:
# three network namespaces on a bridge, each node under chroot as the image's user with a
# read-only root, its own data directory and the secret mounted where the StatefulSet mounts
# them, an /etc/hosts with the headless Service's names, and the StatefulSet's own command line
# (tests/deploy/sts_args.py); then `troupe call`s through the names: a CP write through
# troupe-3 read back through troupe-2, and echo on n3 reached through n1's proxy; the image's
# health check passes on a live node and fails on a killed one. The probes are called as the
# kubelet calls them (HTTP GET on the pod's address) when the binary has --metrics. Last, the
# sweep Job's script runs as its N pods and their merged output must equal the unsharded
# sweep's summary. Skips (exit 0, saying why) without root, network namespaces or mmdebstrap, or
# when the package registry is out of reach with nothing cached.
set -u
bin=$(readlink -f "${1:?usage: image_cluster.sh TROUPE}")
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
skip() {
    echo "image_cluster.sh: SKIP: $*"
    exit 0
}
fail() {
    echo "image_cluster.sh: FAIL: $*"
    for log in "$tmp"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -5 "$log"; }; done
    exit 1
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, chroot)"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
tag=$$
ip netns add "tr-probe-$tag" 2>/dev/null || skip "network namespaces are not available"
ip netns del "tr-probe-$tag"
cache=${TROUPE_IMAGE_CACHE:-/var/cache/troupe-image}
if ! ls "$cache"/base-*.tar >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null 2>&1 || skip "mmdebstrap is not installed (Debian's package)"
    curl -s --max-time 10 -o /dev/null http://deb.debian.org/debian/dists/bookworm/InRelease ||
        skip "Debian's package registry is out of reach and no root file system is cached"
fi

tmp=$(mktemp -d)
pids=""
br="trbr$tag"
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    for k in 1 2 3 9; do ip netns del "tr$k-$tag" 2>/dev/null; done
    ip link del "$br" 2>/dev/null
    if [ -n "${podnet:-}" ]; then
        podman rm -f -t 0 tr1-$tag tr2-$tag tr3-$tag >/dev/null 2>&1
        podman network rm -f "$podnet" >/dev/null 2>&1
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start=$(date +%s)
root=$(TROUPE_IMAGE_ROOT="$tmp/rootfs" sh "$top/scripts/image-rootfs.sh" "$bin" "troupe:test" \
    2>"$tmp/image.log" | tail -1) || fail "image-rootfs.sh failed: $(tail -3 "$tmp/image.log")"
[ -d "$root" ] || fail "image-rootfs.sh printed no root file system"
echo "image_cluster.sh: image built in $(($(date +%s) - start)) s;" \
    "root file system $(du -sh "$root" | cut -f1)"
if command -v podman >/dev/null 2>&1; then
    size=$(podman image inspect --format '{{.Size}}' troupe:test)
    echo "image_cluster.sh: image troupe:test, $size bytes"
fi
secret=0123456789abcdef0123456789abcdef
mkdir -p "$tmp/secret"
printf '%s' "$secret" >"$tmp/secret/secret"
chown -R 0:10001 "$tmp/secret" && chmod 0750 "$tmp/secret" && chmod 0440 "$tmp/secret/secret"
metrics=$("$bin" node --help 2>&1 | grep -c -- --metrics)
# argv K: pod K's command line, one word a line, into $tmp/argvK (without --metrics when this
# binary does not have it yet).
argv() {
    if [ "$1" -eq 9 ]; then
        python3 "$here/sts_args.py" gateway 10.231.0.9 >"$tmp/argv$1" || fail "sts_args.py gateway"
    else
        python3 "$here/sts_args.py" "$1" >"$tmp/argv$1" || fail "sts_args.py $1"
    fi
    [ "$metrics" -gt 0 ] || sed -i '/^--metrics$/,+1d' "$tmp/argv$1"
}

# The podman way, where containers run.
if command -v podman >/dev/null 2>&1; then
    if out=$(podman run --rm troupe:test version 2>&1); then
        podnet="troupe-test-$tag"
        podman network create "$podnet" >/dev/null || fail "podman network create failed"
        for k in 1 2 3; do
            argv "$k"
            set --
            while IFS= read -r w; do set -- "$@" "$w"; done <"$tmp/argv$k"
            shift # the entrypoint
            podman run -d --name "tr$k-$tag" --network "$podnet" \
                --network-alias "troupe-$k.troupe" -v "$tmp/secret:/etc/troupe:ro" troupe:test \
                "$@" >/dev/null || fail "podman run of node $k failed"
        done
        i=0
        until out=$(podman run --rm --network "$podnet" -v "$tmp/secret:/etc/troupe:ro" \
            troupe:test call troupe-1.troupe:7401 proxy echo '["echo@n3", "across"]' \
            --secret-file /etc/troupe/secret 2>&1); do
            i=$((i + 1))
            [ $i -lt 30 ] || fail "troupe call through podman: $out"
            sleep 1
        done
        [ "$out" = '"across"' ] || fail "troupe call through podman answered $out"
        echo "image_cluster.sh: ok: 3 containers on a podman network, troupe call n1 -> n3: $out"
        exit 0
    fi
    echo "image_cluster.sh: podman run cannot run a container here ($(echo "$out" | tail -1)):"
    echo "image_cluster.sh: running the image's file system under chroot in network namespaces"
fi

# The fallback: the image's file system under chroot, one network namespace per node.
command -v unshare >/dev/null 2>&1 && command -v chroot >/dev/null 2>&1 ||
    skip "no unshare or chroot"
ip link add "$br" type bridge && ip link set "$br" up || fail "cannot make a bridge"
: >"$tmp/hosts"
printf '127.0.0.1 localhost\n' >>"$tmp/hosts"
for k in 1 2 3; do printf '10.231.0.%d troupe-%d.troupe\n' "$k" "$k" >>"$tmp/hosts"; done
# Pods 1..3 are the StatefulSet's, pod 9 (10.231.0.9) the gateway Deployment's.
for k in 1 2 3 9; do
    ns="tr$k-$tag"
    ip netns add "$ns" || fail "ip netns add $ns"
    ip link add "v$k-$tag" type veth peer name eth0 netns "$ns" || fail "veth for $ns"
    ip link set "v$k-$tag" master "$br" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "10.231.0.$k/24" dev eth0
    ip -n "$ns" link set eth0 up
    mkdir -p "$tmp/data$k"
    chown 10001:10001 "$tmp/data$k"
    argv "$k"
    # A private mount namespace per node: the root read-only, the volumes bound in.
    ip netns exec "$ns" unshare -m --propagation private sh -c '
        r=$1 d=$2 s=$3 h=$4 a=$5
        mount --bind "$r" "$r" && mount -o remount,bind,ro "$r" "$r" &&
        mount --bind "$d" "$r/var/lib/troupe" && mount --bind "$s" "$r/etc/troupe" &&
        mount --bind "$h" "$r/etc/hosts" || exit 97
        set --
        while IFS= read -r w; do set -- "$@" "$w"; done < "$a"
        exec chroot --userspec=10001:10001 "$r" "$@"' sh "$root" "$tmp/data$k" "$tmp/secret" \
        "$tmp/hosts" "$tmp/argv$k" >"$tmp/n$k.log" 2>&1 &
    pids="$pids $!"
    eval "pid$k=$!"
done
echo "image_cluster.sh: nodes: $(tr '\n' ' ' <"$tmp/argv1")(and n2, n3)"

# inpod K CMD...: CMD run from node K's namespace under the image's root as its user, with the
# pod's /etc/hosts and secret, as kubectl exec (or the container's health check) would.
inpod() {
    k=$1
    shift
    ip netns exec "tr$k-$tag" unshare -m --propagation private sh -c '
        r=$1 h=$2 s=$3; shift 3
        mount --bind "$h" "$r/etc/hosts" && mount --bind "$s" "$r/etc/troupe" || exit 97
        exec chroot --userspec=10001:10001 "$r" "$@"' sh "$root" "$tmp/hosts" "$tmp/secret" \
        "$@" 2>&1
}
call() {
    k=$1
    shift
    inpod "$k" /usr/local/bin/troupe call "$@" --timeout 2000 --secret-file /etc/troupe/secret
}
i=0
until out=$(call 1 troupe-1.troupe:7401 proxy echo '["echo@n3", "across"]') &&
    [ "$out" = '"across"' ]; do
    i=$((i + 1))
    [ $i -lt 30 ] || fail "echo on n3 through n1's proxy: $out"
    for p in $pids; do kill -0 "$p" 2>/dev/null || fail "a node exited"; done
    sleep 1
done
echo "image_cluster.sh: troupe call troupe-1.troupe:7401 proxy echo" \
    "'[\"echo@n3\", \"across\"]' -> $out"
out=$(call 3 troupe-3.troupe:7401 cp write '{"key": 7, "value": 42}') ||
    fail "cp write through troupe-3: $out"
echo "image_cluster.sh: troupe call troupe-3.troupe:7401 cp write" \
    "'{\"key\": 7, \"value\": 42}' -> $out"
out=$(call 2 troupe-2.troupe:7401 cp read '{"key": 7}') || fail "cp read through troupe-2: $out"
echo "image_cluster.sh: troupe call troupe-2.troupe:7401 cp read '{\"key\": 7}' -> $out"
[ "$out" = '{"ok":true,"value":42}' ] ||
    fail "the value written through troupe-3 was not read through troupe-2"
for k in 1 2 3; do
    [ -n "$(ls -A "$tmp/data$k")" ] || fail "node $k wrote nothing in its data volume"
done
# The gateway: a product written and read back through its Service's port, its probes as the
# kubelet calls them, and its node a member of the cluster.
gw=http://10.231.0.9:8080
i=0
status() { ip netns exec "tr9-$tag" curl -s -o /dev/null -w '%{http_code}' "$1"; }
until [ "$(status "$gw/openapi.json")" = 200 ]; do
    i=$((i + 1))
    [ $i -lt 30 ] || fail "the gateway does not serve /openapi.json"
    sleep 1
done
body='{"id": 7, "name": "Teapot", "price_cents": 2599}'
want='{"id":7,"name":"Teapot","price_cents":2599,"description":"","version":1}'
out=$(ip netns exec "tr9-$tag" curl -s -X POST "$gw/products" -d "$body")
[ "$out" = "$want" ] || fail "POST /products through the gateway answered $out"
out=$(ip netns exec "tr9-$tag" curl -s "$gw/products/7")
[ "$out" = "$want" ] || fail "GET /products/7 through the gateway answered $out"
echo "image_cluster.sh: gateway: POST /products and GET /products/7 -> $out"
python3 "$here/sts_args.py" gateway-probes | while read -r name path port; do
    got=$(status "http://10.231.0.9:$port$path")
    [ "$got" = 200 ] || { echo "image_cluster.sh: FAIL: the gateway's $name: $got"; exit 1; }
    echo "image_cluster.sh: gateway $name GET $path on port $port: 200"
done || fail "a gateway probe did not answer 200"
grep -q 'event=link_up peer=gateway' "$tmp/n1.log" || fail "the gateway's node never linked to n1"

if [ "$metrics" -gt 0 ]; then
    python3 "$here/sts_args.py" probes | while read -r name path port; do
        for k in 1 2 3; do
            got=$(ip netns exec "tr$k-$tag" curl -s -o /dev/null -w '%{http_code}' \
                "http://10.231.0.$k:$port$path")
            [ "$got" = 200 ] || { echo "image_cluster.sh: FAIL: $name of node $k: $got"; exit 1; }
        done
        echo "image_cluster.sh: $name GET $path on port $port: 200 from all three nodes"
    done || fail "a probe did not answer 200"
else
    echo "image_cluster.sh: probes NOT checked: this troupe node has no --metrics (the" \
        "StatefulSet's probes need it); started without it"
fi

# The image's health check (HEALTHCHECK CMD /usr/local/bin/troupe-health) on a live node, and
# on a killed one, where it must fail.
out=$(inpod 1 /usr/local/bin/troupe-health) || fail "troupe-health on n1: $out"
kill -9 "$pid3"
if out=$(inpod 3 /usr/local/bin/troupe-health); then
    fail "troupe-health passed on the killed n3"
fi
echo "image_cluster.sh: troupe-health: 0 on n1, 1 on the killed n3 ($out)"
if [ "$metrics" -gt 0 ]; then
    python3 "$here/sts_args.py" probes | head -1 | while read -r name path port; do
        got=$(ip netns exec "tr3-$tag" curl -s -o /dev/null -w '%{http_code}' \
            "http://10.231.0.3:$port$path")
        if [ "$got" = 200 ]; then
            echo "image_cluster.sh: FAIL: $name passed on the killed n3"
            exit 1
        fi
        echo "image_cluster.sh: $name on the killed n3: $got, not ready"
    done || fail "a probe passed on a killed node"
fi
# The sweep Job's pods: its container's script and env, each index as a pod
# (JOB_COMPLETION_INDEX), the root read-only, /out a shared volume (bound at /mnt, the image
# having no /out for a mount point: the script's /out/ paths are rewritten) and /dev/shm (the
# simulator's stores) a tmpfs if the Job mounts a volume there. Fewer seeds than the manifest's,
# for time (DEPLOY_SWEEP_SEEDS=1..200 runs the manifest's). The merge of the shards must be the
# unsharded sweep's summary.
seeds=${DEPLOY_SWEEP_SEEDS:-1..16}
mkdir -p "$tmp/out"
chown 10001:10001 "$tmp/out"
python3 "$here/sts_args.py" job-script >"$tmp/job.sh" || fail "sts_args.py job-script"
jobenv=$(python3 "$here/sts_args.py" job-env | grep -v '^SEEDS=') || fail "sts_args.py job-env"
n=$(echo "$jobenv" | sed -n 's/^JOB_COMPLETIONS=//p')
shm=$(echo "$jobenv" | sed -n 's/^JOB_MOUNTS=//p' | tr , '\n' | grep -cx /dev/shm)
i=0
while [ "$i" -lt "$n" ]; do
    # shellcheck disable=SC2086
    SHM=$shm unshare -m --propagation private sh -c '
        r=$1 o=$2 j=$3; shift 3
        mount --bind "$r" "$r" && mount -o remount,bind,ro "$r" "$r" &&
        mount --bind "$o" "$r/mnt" || exit 97
        [ "$SHM" -eq 0 ] || mount -t tmpfs -o size=256m shm "$r/dev/shm" || exit 97
        script=$(sed "s|/out/|/mnt/|g" "$j")
        exec chroot --userspec=10001:10001 "$r" env -i "$@" /bin/sh -c "$script"' \
        sh "$root" "$tmp/out" "$tmp/job.sh" PATH=/usr/local/bin:/usr/bin:/bin SEEDS=$seeds \
        $(echo "$jobenv" | grep -v '^JOB_') JOB_COMPLETION_INDEX=$i >"$tmp/job$i.log" 2>&1 ||
        fail "sweep pod $i failed"
    i=$((i + 1))
done
[ "$(ls "$tmp/out" | grep -c '^shard-[0-9]*\.json$')" -eq "$n" ] || fail "not $n shard files"
merged=$("$root/usr/local/bin/troupe" sim --merge --json "$tmp"/out/shard-*.json 2>/dev/null |
    sed 's/,"wall_s":[0-9.]*//') || fail "troupe sim --merge failed"
whole=$("$root/usr/local/bin/troupe" sim --seeds $seeds --json 2>/dev/null | tail -1 |
    sed 's/,"wall_s":[0-9.]*//')
[ -n "$merged" ] && [ "$merged" = "$whole" ] || fail "merged shards: $merged; unsharded: $whole"
echo "image_cluster.sh: the sweep Job's $n pods on seeds $seeds, merged = unsharded:" \
    "$merged" | cut -c1-200
echo "image_cluster.sh: ok: the image's file system as a 3-node cluster in network namespaces" \
    "and as the sweep Job's pods, in $(($(date +%s) - start)) s"
