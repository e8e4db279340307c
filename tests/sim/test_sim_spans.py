#!/usr/bin/env python3
"""Spans of a simulated run: `troupe sim --spans FILE` (docs/tracing.md, "Simulated runs").

A lin-kv run (five nodes: a client's request reaches its node's lin-kv actor, which asks the
replicas on the other nodes) writes its spans; the file is read back with jsonschema (PyPI,
an independent reader) against Zipkin v2's ListOfSpans (tests/zipkin_v2.py). Then:
  - the run's trace hash is the one the same run prints without --spans;
  - a second run of the same seed writes the same bytes;
  - span ids are unique, and at least one trace has spans on two or more nodes linked as
    parent and child (a span's parentId is a span of another node);
  - times are virtual: every timestamp and end lies within the run's virtual time;
  - --trace-sample 0.25 records a subset of the traces (by trace id: the same spans for
    those), about a quarter of them; --trace-sample 0 writes an empty array;
  - the options it cannot combine with are refused (exit 2).

Usage: test_sim_spans.py TROUPE_BINARY. Exit 0 when every check held, 1 otherwise."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zipkin_v2 import validate  # noqa: E402  (tests/zipkin_v2.py)

RUN = ["sim", "--workload", "lin-kv", "--seed", "3", "--duration", "5s"]
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def sim(exe, *extra):
    out = subprocess.run([exe] + RUN + list(extra), capture_output=True, text=True)
    m = re.search(r"trace-hash: ([0-9a-f]{16})", out.stdout)
    return out, m.group(1) if m else None


def multi_node_links(spans):
    """Traces where a span's parent is a span recorded on another node."""
    by_id = {(s["traceId"], s["id"]): s for s in spans}
    linked = set()
    for s in spans:
        p = by_id.get((s["traceId"], s.get("parentId")))
        if p is not None and p["localEndpoint"]["serviceName"] != s["localEndpoint"]["serviceName"]:
            linked.add(s["traceId"])
    return linked


def main():
    exe = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="troupe-sim-spans-")
    try:
        a, b, q, z = (os.path.join(tmp, n) for n in ("a.json", "b.json", "q.json", "z.json"))
        plain, h0 = sim(exe)
        out, h1 = sim(exe, "--spans", a)
        check(out.returncode == plain.returncode and h0 is not None and h0 == h1,
              "the trace hash is the same with --spans (%s, %s)" % (h0, h1))
        _, h2 = sim(exe, "--spans", b)
        check(h2 == h1 and open(a, "rb").read() == open(b, "rb").read(),
              "the same seed writes the same bytes")
        spans = json.load(open(a))
        err = validate(spans)
        check(err is None, "the file is a Zipkin v2 ListOfSpans (%d spans)%s" %
              (len(spans), "" if err is None else ": " + err))
        check(len(spans) > 100, "a run of 5 s records spans (%d)" % len(spans))
        ids = {(s["traceId"], s["id"]) for s in spans}
        check(len(ids) == len(spans), "span ids are unique within their trace")
        linked = multi_node_links(spans)
        traces = {s["traceId"] for s in spans}
        check(len(linked) > 0, "traces with a parent and child on two nodes: %d of %d" %
              (len(linked), len(traces)))
        horizon_us = 3600 * 10**6  # the run's virtual time is well under an hour
        check(all(0 < s["timestamp"] and s["timestamp"] + s["duration"] < horizon_us
                  for s in spans), "every span lies in the run's virtual time")
        out, h3 = sim(exe, "--spans", q, "--trace-sample", "0.25")
        quarter = json.load(open(q)) if out.returncode in (0, 1) else []
        qt = {s["traceId"] for s in quarter}
        check(h3 == h1 and qt <= traces and 0.15 < len(qt) / len(traces) < 0.35,
              "--trace-sample 0.25 records %d of the %d traces" % (len(qt), len(traces)))
        same = sorted(json.dumps(s, sort_keys=True) for s in spans if s["traceId"] in qt)
        check(same == sorted(json.dumps(s, sort_keys=True) for s in quarter),
              "a sampled trace has the same spans as in the full run")
        sim(exe, "--spans", z, "--trace-sample", "0")
        check(json.load(open(z)) == [], "--trace-sample 0 writes an empty array")
        for bad in (["--spans", z, "--trace-sample", "1.5"], ["--trace-sample", "0.5"],
                    ["--spans", z, "--check-determinism"]):
            out, _ = sim(exe, *bad)
            check(out.returncode == 2 and out.stderr.count("\n") == 1,
                  "%s is refused with one line (%s)" % (" ".join(bad), out.stderr.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_sim_spans: %s" % ("ok" if not failures else "%d failed" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
