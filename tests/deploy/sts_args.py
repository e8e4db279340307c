"""sts_args.py K | probes | job-env | job-script: what Kubernetes would run from deploy/k8s.

`sts_args.py K` prints the container's command line for the pod of ordinal K, one word a line:
the image's entrypoint (the StatefulSet gives no command) and the args with $(VAR) expanded
from the container's env as the kubelet does, the downward API's fields given the values
Kubernetes gives pod K (metadata.name troupe-K, the pod-index label K, the namespace
"default"). `sts_args.py probes` prints "NAME PATH PORT" for each httpGet probe, the port
resolved from the container's named ports. `sts_args.py job-env` prints the sweep Job's
container env as NAME=VALUE lines, its completions as JOB_COMPLETIONS=N and the mount paths of
its volumes as JOB_MOUNTS=P,Q, and
`sts_args.py job-script` the shell script its container runs (its command must be
/bin/sh -c). For tests/deploy/image_cluster.sh.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render  # noqa: E402

ENTRYPOINT = "/usr/local/bin/troupe"  # scripts/image-rootfs.sh, Containerfile
K8S = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "k8s")
BASE = os.path.join(K8S, "base")


def job():
    j = [o for o in render.render(os.path.join(K8S, "sweep")) if o["kind"] == "Job"][0]
    c = j["spec"]["template"]["spec"]["containers"][0]
    if c.get("command") != ["/bin/sh", "-c"] or len(c.get("args", [])) != 1:
        raise SystemExit("sts_args.py: the sweep Job's container is not /bin/sh -c SCRIPT")
    env = [f"{e['name']}={e['value']}" for e in c.get("env", [])]
    mounts = ",".join(m["mountPath"] for m in c.get("volumeMounts", []))
    return env + [f"JOB_COMPLETIONS={j['spec']['completions']}", f"JOB_MOUNTS={mounts}"], c["args"][0]


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
        raise SystemExit("usage: sts_args.py K | probes | job-env | job-script")
    what = sys.argv[1]
    if what == "job-env":
        print("\n".join(job()[0]))
    elif what == "job-script":
        print(job()[1], end="")
    else:
        print("\n".join(probes() if what == "probes" else argv(int(what))))
