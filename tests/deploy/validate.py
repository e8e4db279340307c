"""validate.py: the Kubernetes manifests of deploy/k8s, checked offline.

Renders the base, the example overlay and the sweep Job (tests/deploy/render.py; where
`kubectl kustomize` is installed, its output must be the same objects) and validates every
object against the Kubernetes 1.33 schemas bundled in kubernetes-validate (strict: unknown
fields are errors). Then the cluster's own rules: the PodDisruptionBudget keeps a majority of
the StatefulSet's replicas, --replicas names exactly n1..nN for N replicas, the probes use a
declared port, and the sweep Job is Indexed with as many completions as SHARDS. Every check
is shown to fire on a planted mistake (a misspelled field, a wrongly typed one, a minority
budget, a --replicas list one short, a Job with fewer shards than SHARDS).
Exit 0 all held (or kubernetes-validate is not installed: a skip, said on stdout), 1 a check
failed.
"""

import copy
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render  # noqa: E402

K8S_VERSION = "1.33.0"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "k8s")
DIRS = ["base", "overlays/example", "sweep"]


def schema_errors(obj):
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{obj['kind']}/{obj['metadata']['name']}: {e.message} at {list(e.path)}"]
    return []


def find(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def arg_after(container, flag):
    args = container.get("args", [])
    return args[args.index(flag) + 1] if flag in args else None


def rule_errors(objs):
    errs = []
    for sts in find(objs, "StatefulSet"):
        n = sts["spec"].get("replicas", 1)  # the API default
        start = sts["spec"].get("ordinals", {}).get("start", 0)
        c = sts["spec"]["template"]["spec"]["containers"][0]
        want = ",".join(f"n{i}" for i in range(start, start + n))
        if arg_after(c, "--replicas") != want:
            errs.append(f"StatefulSet {sts['metadata']['name']}: --replicas is "
                        f"{arg_after(c, '--replicas')!r}, its {n} pods are {want}")
        for pdb in find(objs, "PodDisruptionBudget"):
            if pdb["spec"].get("minAvailable", 0) <= n // 2:
                errs.append(f"PodDisruptionBudget {pdb['metadata']['name']}: minAvailable "
                            f"{pdb['spec'].get('minAvailable')} is no majority of {n}")
    for o in objs:
        if o["kind"] not in ("StatefulSet", "Deployment"):
            continue
        for c in o["spec"]["template"]["spec"]["containers"]:
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if port is None or port not in ports:
                    errs.append(f"{o['kind']} {o['metadata']['name']}: {probe} port {port!r}"
                                f" is not one of {sorted(ports)}")
    for job in find(objs, "Job"):
        spec = job["spec"]
        env = {e["name"]: e.get("value") for e in spec["template"]["spec"]["containers"][0]["env"]}
        if spec.get("completionMode") != "Indexed" or str(spec["completions"]) != env["SHARDS"]:
            errs.append(f"Job {job['metadata']['name']}: not Indexed with completions = SHARDS")
    return errs


def check(objs):
    return [e for o in objs for e in schema_errors(o)] + rule_errors(objs)


def plants(rendered):
    """Each mistake planted into a copy of the rendered objects, with its name."""
    base, overlay, sweep = rendered["base"], rendered["overlays/example"], rendered["sweep"]

    def planted(objs, kind, edit):
        objs = copy.deepcopy(objs)
        edit(find(objs, kind)[0])
        return objs

    def misspell(o):
        o["spec"]["replica"] = o["spec"].pop("replicas")

    def mistype(o):
        o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "7401"

    def minority(o):
        o["spec"]["minAvailable"] = 2

    def short(o):
        o["spec"]["template"]["spec"]["containers"][0]["args"][10] = "n1,n2,n3,n4"

    def probe(o):
        o["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = "admin"

    def shards(o):
        o["spec"]["completions"] = 3

    return [
        ("a misspelled field (spec.replica)", planted(base, "StatefulSet", misspell)),
        ("a string containerPort", planted(base, "StatefulSet", mistype)),
        ("a budget of 2 of 5 nodes", planted(overlay, "PodDisruptionBudget", minority)),
        ("--replicas one short of 5", planted(overlay, "StatefulSet", short)),
        ("a probe on an undeclared port", planted(base, "StatefulSet", probe)),
        ("3 completions for 4 shards", planted(sweep, "Job", shards)),
    ]


def kubectl_same(d, objs):
    if not shutil.which("kubectl"):
        return None
    out = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, d)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        return f"kubectl kustomize {d} failed: {out.stderr.strip()}"
    import yaml

    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    theirs = sorted((o for o in yaml.safe_load_all(out.stdout) if o), key=key)
    return None if theirs == sorted(objs, key=key) else f"kubectl kustomize {d} renders otherwise"


def main():
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        print("validate.py: SKIP: kubernetes-validate is not installed (scripts/bootstrap.sh)")
        return 0
    failed = False
    rendered = {}
    for d in DIRS:
        try:
            objs = render.render(os.path.join(ROOT, d))
        except (render.RenderError, OSError, KeyError, ValueError, IndexError) as e:
            print(f"validate.py: {d}: cannot render: {e}")
            return 1
        rendered[d] = objs
        errs = check(objs)
        other = kubectl_same(d, objs)
        if other:
            errs.append(other)
        for e in errs:
            print(f"validate.py: {d}: {e}")
        failed |= bool(errs)
        if not errs:
            same = "" if shutil.which("kubectl") is None else ", same as kubectl kustomize"
            print(f"validate.py: {d}: {len(objs)} objects valid against Kubernetes "
                  f"{K8S_VERSION}, rules held{same}")
    for name, objs in plants(rendered):
        errs = check(objs)
        if errs:
            print(f"validate.py: planted {name}: caught ({errs[0]})")
        else:
            print(f"validate.py: planted {name}: NOT caught")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
