#!/usr/bin/env python3
"""Distributed tracing spans on three real loopback nodes (docs/tracing.md).

n1, n2, n3 run `troupe node --trace-out FILE`. One `troupe call --trace` sends a request to
n1's proxy, which forwards it to n2's proxy, which forwards it to n3's echo; the replies come
back the same way. After the nodes exit (SIGTERM: each writes its last spans), the three files
are read back with jsonschema (PyPI, an independent reader) against Zipkin v2's Span and
ListOfSpans definitions (tests/zipkin_v2.py). Then, on the spans alone:
  - one trace id, the traceparent's that `troupe call --trace` printed;
  - span ids unique; every parentId is a span of the trace or the client's span (the
    traceparent's), and following parents from any span reaches the client without a cycle:
    a tree rooted at the client;
  - five spans: the request's activations on n1 (proxy), n2 (proxy), n3 (echo), each the
    child of the one before, and the replies' activations on n2 and n1, children of the
    request's activations that sent the replies.
A sixth call without --trace records no span (nothing is sampled unless asked).

Usage: test_spans.py TROUPE_BINARY [--keep DIR]. Exit 0 when every check held, 1 otherwise."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zipkin_v2 import LIST_OF_SPANS  # noqa: E402  (tests/zipkin_v2.py)

SECRET = "spans-test-secret-0123456789abcdef"

failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def start(exe, tmp, name, seeds=None):
    log = open(os.path.join(tmp, name + ".log"), "w")
    args = [exe, "node", "--name", name, "--listen", "127.0.0.1:0", "--builtins", "echo,proxy",
            "--heartbeat-ms", "100", "--trace-out", os.path.join(tmp, name + ".json")]
    if seeds:
        args += ["--seeds", seeds]
    proc = subprocess.Popen(args, stdout=log, stderr=log, env=dict(os.environ,
                                                                  TROUPE_SECRET=SECRET))
    deadline = time.time() + 10
    while time.time() < deadline:
        for line in open(log.name):
            if "event=node_ready" in line:
                return proc, int(line.split("port=")[1].split()[0])
        time.sleep(0.05)
    raise RuntimeError(name + " did not start")


def call(exe, port, body, trace):
    args = [exe, "call", "127.0.0.1:%d" % port, "--timeout", "2000", "proxy", "echo", body]
    if trace:
        args.append("--trace")
    return subprocess.run(args, capture_output=True, text=True,
                          env=dict(os.environ, TROUPE_SECRET=SECRET))


def validate(tmp):
    spans = []
    for name in ("n1", "n2", "n3"):
        with open(os.path.join(tmp, name + ".json")) as f:
            doc = json.load(f)
        try:
            jsonschema.Draft4Validator(LIST_OF_SPANS).validate(doc)
            check(True, "%s.json is a Zipkin v2 ListOfSpans (%d spans)" % (name, len(doc)))
        except jsonschema.ValidationError as e:
            check(False, "%s.json is a Zipkin v2 ListOfSpans: %s" % (name, e.message))
        spans += doc
    return spans


def check_tree(spans, traceparent):
    _, trace_id, client_span, flags = traceparent.split("-")
    check(flags == "01", "the traceparent is sampled")
    check({s["traceId"] for s in spans} == {trace_id}, "one trace id, the traceparent's")
    by_id = {s["id"]: s for s in spans}
    check(len(by_id) == len(spans), "span ids are unique")
    check(client_span not in by_id, "no node records the client's own span")
    rooted = True
    for s in spans:
        seen, cur = set(), s
        while cur is not None and cur.get("parentId") != client_span:
            if cur["id"] in seen or cur.get("parentId") not in by_id:
                rooted = False
                break
            seen.add(cur["id"])
            cur = by_id[cur["parentId"]]
    check(rooted, "every span's parents lead to the client's span: one tree")

    def hop(parent, node, name):
        got = [s for s in spans if s.get("parentId") == parent and
               s["localEndpoint"]["serviceName"] == node and s["name"].startswith(name + "/")]
        check(len(got) == 1, "one %s span on %s, child of %s" % (name, node, parent))
        return got[0]["id"] if got else None

    r1 = hop(client_span, "n1", "proxy")
    r2 = hop(r1, "n2", "proxy")
    r3 = hop(r2, "n3", "echo")
    hop(r3, "n2", "proxy")  # echo's reply, handled by n2's proxy
    hop(r2, "n1", "proxy")  # n2's proxy's reply (sent for its request activation)
    check(len(spans) == 5, "five spans in all (%d)" % len(spans))


def main():
    exe = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="troupe-spans-")
    procs = []
    try:
        p1, port1 = start(exe, tmp, "n1")
        procs.append(p1)
        for name in ("n2", "n3"):
            procs.append(start(exe, tmp, name, "127.0.0.1:%d" % port1)[0])
        body = '["proxy@n2", ["echo@n3", {"x": 1}]]'
        deadline, out = time.time() + 10, None
        while time.time() < deadline:  # until n1 knows n2 and n2 knows n3
            out = call(exe, port1, body, False)
            if out.returncode == 0 and out.stdout.strip() == '{"x":1}':
                break
            time.sleep(0.2)
        check(out.returncode == 0, "an untraced call through n1, n2, n3 is answered")
        out = call(exe, port1, body, True)
        lines = out.stdout.split("\n")
        check(out.returncode == 0 and lines[0].startswith("traceparent 00-") and
              lines[1] == '{"x":1}', "troupe call --trace prints the traceparent, then the reply")
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            check(p.wait(timeout=10) == 0, "a node exits 0 on SIGTERM")
        spans = validate(tmp)
        if lines[0].startswith("traceparent "):
            check_tree(spans, lines[0].split(" ")[1])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if "--keep" in sys.argv:
            dst = sys.argv[sys.argv.index("--keep") + 1]
            shutil.copytree(tmp, dst, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_spans: %s" % ("ok" if not failures else "%d failed" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
