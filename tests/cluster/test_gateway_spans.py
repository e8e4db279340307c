#!/usr/bin/env python3
"""The gateway's `traceparent` (docs/gateway.md, "Tracing"; docs/tracing.md) on two real
loopback nodes with `--http` and `--trace-out`: n1 the catalog's writer, n2 a replica.

  - POST /products through n2 with a sampled traceparent: the response's traceparent has the
    same trace id and flags and a span id of the gateway's own; after SIGTERM the spans of
    both files (jsonschema against Zipkin v2, tests/zipkin_v2.py) hold that trace: the
    gateway's SERVER span on n2 whose parent is the header's span id and whose id is the
    response's, a span on n2 that is the gateway span's child (the catalog request), and a
    span on n1 under it (the write reaching the writer): one tree across both nodes;
  - an invalid traceparent is ignored: the response names another trace, not sampled, and
    no span of it is recorded (--trace-sample 0);
  - a request without the header gets a traceparent too.

Usage: test_gateway_spans.py TROUPE_BINARY. Exit 0 when every check held, 1 otherwise."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zipkin_v2 import validate  # noqa: E402  (tests/zipkin_v2.py)

SECRET = "gateway-spans-secret-0123456789"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def start(exe, tmp, name, seeds=None):
    log_path = os.path.join(tmp, name + ".log")
    args = [exe, "node", "--name", name, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
            "--replicas", "n1,n2", "--data", os.path.join(tmp, name), "--builtins", "echo,shop",
            "--heartbeat-ms", "100", "--trace-out", os.path.join(tmp, name + ".json")]
    if seeds:
        args += ["--seeds", seeds]
    log = open(log_path, "w")
    proc = subprocess.Popen(args, stdout=log, stderr=log, env=dict(os.environ, TROUPE_SECRET=SECRET))
    port = http = None
    deadline = time.time() + 10
    while time.time() < deadline and port is None:
        time.sleep(0.05)
        for line in open(log_path):
            for kv in line.split():
                if kv.startswith("http_port="):
                    http = int(kv.split("=")[1])
                if "event=node_ready" in line and kv.startswith("port="):
                    port = int(kv.split("=")[1])
    if port is None or http is None:
        raise RuntimeError("%s did not start: %s" % (name, open(log_path).read()))
    return proc, port, http


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def main():
    exe = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="troupe-gw-spans-")
    procs = []
    try:
        p1, port1, _ = start(exe, tmp, "n1")
        procs.append(p1)
        p2, _, http2 = start(exe, tmp, "n2", "127.0.0.1:%d" % port1)
        procs.append(p2)
        prod = json.dumps({"id": 5, "name": "Kettle", "price_cents": 1999, "description": "x"})
        deadline, status = time.time() + 10, 0
        while time.time() < deadline and status not in (200, 201):  # until n2 knows n1
            status, _, _ = request(http2, "POST", "/products", prod)
            time.sleep(0.2)
        check(status in (200, 201), "an untraced write through n2 reaches the writer")
        sent = "00-%s-%s-01" % (TRACE, PARENT)
        status, headers, _ = request(http2, "POST", "/products", prod, {"traceparent": sent})
        got = headers.get("traceparent", "")
        parts = got.split("-")
        check(status == 200 and len(parts) == 4 and parts[1] == TRACE and parts[3] == "01" and
              parts[2] != PARENT, "the response continues the trace with the gateway's span "
              "(%s)" % got)
        gw_span = parts[2] if len(parts) == 4 else None
        status, headers, _ = request(http2, "GET", "/products/5",
                                     headers={"traceparent": "00-%s-%s-01" % ("0" * 32, PARENT)})
        bad = headers.get("traceparent", "").split("-")
        check(status == 200 and len(bad) == 4 and bad[1] != TRACE and bad[3] == "00",
              "an invalid traceparent is ignored: a trace of the gateway's own, not sampled")
        status, headers, _ = request(http2, "GET", "/products/5")
        check(status == 200 and len(headers.get("traceparent", "").split("-")) == 4,
              "a request without the header gets a traceparent")
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            check(p.wait(timeout=10) == 0, "a node exits 0 on SIGTERM")
        spans = []
        for name in ("n1", "n2"):
            doc = json.load(open(os.path.join(tmp, name + ".json")))
            err = validate(doc)
            check(err is None, "%s.json is a Zipkin v2 ListOfSpans (%d spans)%s" %
                  (name, len(doc), "" if err is None else ": " + err))
            spans += doc if err is None else []
        check(len(bad) == 4 and not any(s["traceId"] == bad[1] for s in spans),
              "the ignored header's request recorded nothing")
        ours = [s for s in spans if s["traceId"] == TRACE]
        gw = [s for s in ours if s.get("kind") == "SERVER"]
        check(len(gw) == 1 and gw[0]["id"] == gw_span and gw[0].get("parentId") == PARENT and
              gw[0]["localEndpoint"]["serviceName"] == "n2" and
              gw[0]["name"] == "POST /products",
              "the gateway's span on n2: the response's span id, the header's span its parent")
        kids = [s for s in ours if s.get("parentId") == gw_span]
        check(any(s["localEndpoint"]["serviceName"] == "n2" for s in kids),
              "the next hop on n2 is a child of the gateway's span (%s)" %
              [s["name"] for s in kids])
        by_id = {s["id"]: s for s in ours}

        def reaches_gateway(s):
            seen = set()
            while s is not None and s["id"] not in seen:
                if s.get("parentId") == gw_span:
                    return True
                seen.add(s["id"])
                s = by_id.get(s.get("parentId"))
            return False
        on_n1 = [s for s in ours if s["localEndpoint"]["serviceName"] == "n1"]
        check(on_n1 and all(reaches_gateway(s) for s in on_n1),
              "the write's spans on n1 (%d) descend from the gateway's span" % len(on_n1))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_gateway_spans: %s" % ("ok" if not failures else "%d failed" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
