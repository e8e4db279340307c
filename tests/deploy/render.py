"""render.py DIR: prints the manifests of a kustomization directory as one YAML stream.

The subset of kustomize that deploy/k8s uses, for machines without kustomize (Debian 12 has no
package of it): `resources` (files, or directories holding a kustomization.yaml, rendered
first), `namespace` (set on every object), `images` (newName / newTag for the containers whose
image is that name) and `patches` given as files of JSON patch operations (RFC 6902: add,
remove, replace, test) with a `target` of kind and name. Anything else in a kustomization is
refused, so a field this renderer would ignore cannot pass unnoticed. Where `kubectl kustomize`
is installed, tests/deploy/validate.py checks that both render the same objects.
"""

import copy
import os
import sys

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}


class RenderError(Exception):
    pass


def _pointer(path):
    if not path.startswith("/"):
        raise RenderError(f"JSON pointer {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    for p in parts:
        if isinstance(doc, list):
            doc = doc[int(p)]
        elif isinstance(doc, dict) and p in doc:
            doc = doc[p]
        else:
            raise RenderError(f"no {p!r} in the patched object")
    return doc


def apply_patch(obj, ops):
    for op in ops:
        parts = _pointer(op["path"])
        parent = _walk(obj, parts[:-1])
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            if _walk(obj, parts) != op["value"]:
                raise RenderError(f"test failed at {op['path']}: {_walk(obj, parts)!r}")
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                i = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(i, copy.deepcopy(op["value"]))
                else:
                    parent[i] = copy.deepcopy(op["value"])
            else:
                if kind == "replace" and last not in parent:
                    raise RenderError(f"replace of a missing {op['path']}")
                parent[last] = copy.deepcopy(op["value"])
        else:
            raise RenderError(f"unsupported patch op {kind!r}")


def _containers(obj):
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else spec
    return pod.get("containers", []) + pod.get("initContainers", [])


def render(directory):
    path = os.path.join(directory, "kustomization.yaml")
    with open(path) as f:
        k = yaml.safe_load(f)
    unknown = set(k) - KNOWN
    if unknown:
        raise RenderError(f"{path}: fields this renderer does not apply: {sorted(unknown)}")
    objs = []
    for r in k.get("resources", []):
        rp = os.path.normpath(os.path.join(directory, r))
        if os.path.isdir(rp):
            objs += render(rp)
        else:
            with open(rp) as f:
                objs += [d for d in yaml.safe_load_all(f) if d]
    if "namespace" in k:
        for o in objs:
            o["metadata"]["namespace"] = k["namespace"]
    for img in k.get("images", []):
        for o in objs:
            for c in _containers(o):
                name, _, tag = c["image"].partition(":")
                if name == img["name"]:
                    name = img.get("newName", name)
                    tag = img.get("newTag", tag)
                    c["image"] = f"{name}:{tag}" if tag else name
    for p in k.get("patches", []):
        with open(os.path.join(directory, p["path"])) as f:
            ops = yaml.safe_load(f)
        t = p["target"]
        hits = [o for o in objs if o["kind"] == t["kind"] and o["metadata"]["name"] == t["name"]]
        if len(hits) != 1:
            raise RenderError(f"patch {p['path']}: {len(hits)} objects match its target")
        apply_patch(hits[0], ops)
    return objs


def main():
    if len(sys.argv) != 2:
        print("usage: render.py KUSTOMIZATION-DIR", file=sys.stderr)
        return 2
    try:
        objs = render(sys.argv[1])
    except (RenderError, OSError, KeyError, ValueError, IndexError, yaml.YAMLError) as e:
        print(f"render.py: {e}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(objs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
