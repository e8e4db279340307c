"""sts_args.py K | probes | gateway IP | gateway-probes | job-env | job-script: what
Kubernetes would run from deploy/k8s.

`sts_args.py K` prints the container's command line for the pod of ordinal K, one word a line:
the image's entrypoint (the StatefulSet gives no command) and the args with $(VAR) expanded
from the container's env as the kubelet does, the downward API's fields given the values
Kubernetes gives pod K (metadata.name troupe-K, the pod-index label K, the namespace
"default"). `sts_args.py probes` prints "NAME PATH PORT" for each httpGet probe, the port
resolved from the container's named ports. `gateway IP` and `gateway-probes` are the same for
the gateway's Deployment, its pod's address being IP. `sts_args.py job-env` prints the sweep Job's
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
    extra = [f"JOB_COMPLETIONS={j['spec']['completions']}", f"JOB_MOUNTS={mounts}"]
    return env + extra, c["args"][0]


def container(kind="StatefulSet"):
    obj = [o for o in render.render(BASE) if o["kind"] == kind][0]
    return obj, obj["spec"]["template"]["spec"]["containers"][0]


def field(obj, ref, k):
    path = ref["fieldPath"]
    values = {
        "metadata.name": f"{obj['metadata']['name']}-{k}",
        "metadata.namespace": "default",
        "metadata.labels['apps.kubernetes.io/pod-index']": str(k),
        "status.podIP": str(k),
    }
    if path not in values:
        raise SystemExit(f"sts_args.py: no value for the field {path}")
    return values[path]


def argv(kind, k):
    obj, c = container(kind)
    env = {}
    for e in c.get("env", []):
        env[e["name"]] = e["value"] if "value" in e else field(obj, e["valueFrom"]["fieldRef"], k)
    expand = lambda s: re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), s)  # noqa
    return [expand(w) for w in c.get("command", [ENTRYPOINT]) + c.get("args", [])]


def probes(kind):
    _, c = container(kind)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    out = []
    for name in ("readinessProbe", "livenessProbe"):
        g = c[name]["httpGet"]
        out.append(f"{name} {g['path']} {ports.get(g['port'], g['port'])}")
    return out


if __name__ == "__main__":
    what = sys.argv[1:]
    if what == ["job-env"]:
        print("\n".join(job()[0]))
    elif what == ["job-script"]:
        print(job()[1], end="")
    elif what == ["probes"] or what == ["gateway-probes"]:
        print("\n".join(probes("StatefulSet" if what == ["probes"] else "Deployment")))
    elif len(what) == 2 and what[0] == "gateway":
        print("\n".join(argv("Deployment", what[1])))
    elif len(what) == 1 and what[0].isdigit():
        print("\n".join(argv("StatefulSet", int(what[0]))))
    else:
        raise SystemExit("usage: sts_args.py K | probes | gateway IP | gateway-probes | job-env | "
                         "job-script")
