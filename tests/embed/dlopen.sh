#!/bin/sh
# A module loaded into a host resolves the public API from the host: the module (built
# -shared, not linked with libtroupe) defines no tr_ symbol and leaves tr_strerror and
# tr_sim_config_init undefined, and the host (linked as the troupe binary is) dlopens it and
# checks that the module's calls reached its own functions.
# Usage: dlopen.sh HOST MODULE
set -u
host=$1 module=$2
defined=$(nm -D --defined-only "$module" | awk '$3 ~ /^tr_/ { print $3 }')
if [ -n "$defined" ]; then
    echo "dlopen: $module carries its own copy of:" $defined
    exit 1
fi
for f in tr_strerror tr_sim_config_init; do
    nm -D --undefined-only "$module" | grep -qw "$f" || {
        echo "dlopen: $module does not take $f from its host"
        exit 1
    }
done
"$host" "$module" || { echo "dlopen: the host could not run the module"; exit 1; }
