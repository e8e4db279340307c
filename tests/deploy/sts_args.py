"""sts_args.py K | probes: what Kubernetes would run for pod K of deploy/k8s's StatefulSet.

`sts_args.py K` prints the container's command line for the pod of ordinal K, one word a line:
the image's entrypoint (the StatefulSet gives no command) and the args with $(VAR) expanded
from the container's env as the kubelet does, the downward API's fields given the values
Kubernetes gives pod K (metadata.name troupe-K, the pod-index label K, the namespace
"default"). `sts_args.py probes` prints "NAME PATH PORT" for each httpGet probe, the port
resolved from the container's named ports. For tests/deploy/image_cluster.sh.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render  # noqa: E402

ENTRYPOINT = "/usr/local/bin/troupe"  # scripts/image-rootfs.sh, Containerfile
BASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "k8s", "base")


def container():
    sts = [o for o in render.render(BASE) if o["kind"] == "StatefulSet"][0]
    return sts, sts["spec"]["template"]["spec"]["containers"][0]


def field(sts, ref, k):
    path = ref["fieldPath"]
    values = {
        "metadata.name": f"{sts['metadata']['name']}-{k}",
        "metadata.namespace": "default",
        "metadata.labels['apps.kubernetes.io/pod-index']": str(k),
    }
    if path not in values:
        raise SystemExit(f"sts_args.py: no value for the field {path}")
    return values[path]


def argv(k):
    sts, c = container()
    env = {}
    for e in c.get("env", []):
        env[e["name"]] = e["value"] if "value" in e else field(sts, e["valueFrom"]["fieldRef"], k)
    expand = lambda s: re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), s)  # noqa
    return [expand(w) for w in c.get("command", [ENTRYPOINT]) + c.get("args", [])]


def probes():
    _, c = container()
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    out = []
    for name in ("readinessProbe", "livenessProbe"):
        g = c[name]["httpGet"]
        out.append(f"{name} {g['path']} {ports.get(g['port'], g['port'])}")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: sts_args.py K | probes")
    print("\n".join(probes() if sys.argv[1] == "probes" else argv(int(sys.argv[1]))))
