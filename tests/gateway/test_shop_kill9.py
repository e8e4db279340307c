#!/usr/bin/env python3
"""kill -9 of the payments node in a real 4-node shop behind the HTTP gateway (loopback):
every node is given TROUPE_SHOP_PAYMENTS_NODE=n3, so n3's payment provider serves every
coordinator; orders go on through the gateway of n1 while n3 is killed with SIGKILL and
restarted.

  no hang       every POST /orders is answered (2xx, 503 or 504) within its deadline and a
                margin, before, during and after the kill
  fast 503      with n3 down, the coordinator's breaker in front of the payment provider
                opens and from then on every new order is refused at once: 503
                problem+json with Retry-After, each well under the deadline (nothing was
                reserved, so nothing needs compensating); at least MIN_503 of them
  recovery      after the restart the breaker half-opens, its probe closes it, and orders with
                new keys are placed again (201)
  one 201       requests with one new key sent in parallel through three gateways (so racing
                within a coordinator and between coordinators) get exactly one 201, the
                others 200, all with the same order
  metrics       n1 serves --metrics: every scrape passes `promtool check metrics`; its orders
                coordinator's breaker in front of the provider shows closed
                (troupe_breaker_state{owner="orders",breaker="payment-provider"} 0) before
                the kill, open (1) with troupe_breaker_opens_total +1 once it opens, and 0
                again after the restart
  no loss       every order answered 200/201 reads back through another node's gateway,
                with its id, in a final state (confirmed or cancelled) once the saga is done;
                a retry with the same key answers the same order

Usage: test_shop_kill9.py TROUPE_BINARY [BUG]: BUG, a planted bug of the shop given to every
node (--bug), e.g. volatile-idempotency, which this test must catch. Exit 0 when every check
held, 1 otherwise."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SECRET = "shop-kill9-test-secret-0123456789"
DEADLINE_S = 2.0  # the gateway's deadline per request
MARGIN_S = 1.5
FAST_503_S = 0.5  # a refusal by an open breaker: at once, a quarter of the deadline at most
MIN_503 = 10
PAYMENTS_NODE = "n3"
PROVIDER = 'owner="orders",breaker="payment-provider"'

failures = []
BUG = sys.argv[2] if len(sys.argv) > 2 else None


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


class Node:
    def __init__(self, exe, tmp, name, seeds=None):
        self.exe, self.tmp, self.name, self.seeds = exe, tmp, name, seeds
        self.data = os.path.join(tmp, name)
        self.start()

    def start(self):
        self.log_path = os.path.join(self.tmp, self.name + ".log")
        args = [self.exe, "node", "--name", self.name, "--listen", "127.0.0.1:0", "--http",
                "127.0.0.1:0", "--replicas", "n1,n2,n3,n4", "--data", self.data, "--builtins",
                "shop", "--heartbeat-ms", "100", "--down-ms", "600"]
        if self.seeds:
            args += ["--seeds", self.seeds]
        if self.name == "n1":
            args += ["--metrics", "127.0.0.1:0"]
        if BUG:
            args += ["--bug", BUG]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log,
                                     env=dict(os.environ, TROUPE_SECRET=SECRET,
                                              TROUPE_SHOP_PAYMENTS_NODE=PAYMENTS_NODE))
        self.port = self.http = self.metrics = None
        deadline = time.time() + 10
        while time.time() < deadline and self.proc.poll() is None:
            for line in open(self.log_path):
                if "event=metrics_ready" in line:
                    self.metrics = int(line.split("metrics_port=")[1].split()[0])
                if "event=gateway_ready" in line:
                    self.http = int(line.split("http_port=")[1].split()[0])
                if "event=node_ready" in line:
                    self.port = int(line.split(" port=")[1].split()[0])
            if self.port and self.http:
                return
            time.sleep(0.05)
        raise RuntimeError("%s did not start: %s" % (self.name, open(self.log_path).read()))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def request(port, method, path, body=None, headers=None, with_headers=False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE_S + 10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        out = (r.status, r.read())
        return out + (dict(r.getheaders()),) if with_headers else out
    finally:
        c.close()


scrapes = {"count": 0, "refused": []}


def scrape(node):
    """GET /metrics of node, checked by promtool; {series: value}."""
    status, body = request(node.metrics, "GET", "/metrics")
    scrapes["count"] += 1
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    if status != 200 or lint.returncode != 0:
        scrapes["refused"].append((status, lint.stdout[:200], lint.stderr[:200]))
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r"^(\S+) (\S+)$", line)
        if m and not line.startswith("#"):
            out[m.group(1)] = float(m.group(2))
    return out


def provider(sample, family):
    return sample.get("%s{%s}" % (family, PROVIDER))


class Client:
    """Places orders with fresh keys through one gateway; keeps what was acknowledged."""

    def __init__(self, gw):
        self.gw, self.seq = gw, 0
        self.acked = {}  # key -> order id
        self.slowest = 0.0
        self.statuses = {}

    def order(self):
        self.seq += 1
        key = "k9-%d" % self.seq
        t0 = time.time()
        status, body, headers = request(self.gw, "POST", "/orders",
                                        json.dumps({"item": self.seq % 8, "qty": 1}),
                                        {"Idempotency-Key": key}, with_headers=True)
        took = time.time() - t0
        self.slowest = max(self.slowest, took)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status in (200, 201):
            self.acked[key] = json.loads(body)["id"]
        self.last_headers = headers
        self.last_body = body
        return status, took


def race(gateways, key, per_gateway=3):
    """POST /orders with one key from len(gateways) * per_gateway threads at once."""
    results, start = [], threading.Event()

    def one(gw):
        start.wait()
        status, body = request(gw, "POST", "/orders", json.dumps({"item": 2, "qty": 1}),
                               {"Idempotency-Key": key})
        results.append((status, json.loads(body).get("id")))

    threads = [threading.Thread(target=one, args=(gw,)) for gw in gateways
               for _ in range(per_gateway)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join()
    return results


def run(exe, tmp):
    nodes = [Node(exe, tmp, "n1")]
    seeds = "127.0.0.1:%d" % nodes[0].port
    for k in (2, 3, 4):
        nodes.append(Node(exe, tmp, "n%d" % k, seeds))
    try:
        time.sleep(1.0)  # the nodes join
        client = Client(nodes[0].http)
        for _ in range(10):
            client.order()
        check(client.statuses.get(201, 0) >= 8,
              "before the kill, orders are placed: %s" % client.statuses)
        for r in range(5):
            got = race([nodes[0].http, nodes[1].http, nodes[3].http], "race-%d" % r)
            statuses = sorted(st for st, _ in got)
            check(statuses.count(201) == 1 and statuses.count(200) == len(got) - 1 and
                  len({oid for _, oid in got}) == 1,
                  "9 racing requests with one key: exactly one 201, the others 200, one order: "
                  "%s" % statuses)
        before = scrape(nodes[0])
        opens0 = provider(before, "troupe_breaker_opens_total")
        check(provider(before, "troupe_breaker_state") == 0 and opens0 is not None,
              "before the kill, n1's metrics show the orders' provider breaker closed: %s, "
              "opened %s" % (provider(before, "troupe_breaker_state"), opens0))
        victim = nodes[2]
        assert victim.name == PAYMENTS_NODE
        victim.stop(signal.SIGKILL)
        seen_open = None  # the opens counter at the first scrape that showed the breaker open
        during, refusals, slow_503, bad_503, after_first = {}, 0, [], [], []
        t_end = time.time() + 6.0
        while time.time() < t_end:
            status, took = client.order()
            during[status] = during.get(status, 0) + 1
            if refusals > 0:
                after_first.append(status)
            if seen_open is None:
                sample = scrape(nodes[0])
                if provider(sample, "troupe_breaker_state") == 1:
                    seen_open = provider(sample, "troupe_breaker_opens_total")
            if status == 503:
                refusals += 1
                if took > FAST_503_S:
                    detail = json.loads(client.last_body).get("detail", "")
                    slow_503.append((round(took, 2), detail))
                problem = client.last_headers.get("Content-Type", "")
                if "problem+json" not in problem or "Retry-After" not in client.last_headers:
                    bad_503.append(problem)
        check(client.slowest <= DEADLINE_S + MARGIN_S and
              set(during) <= {200, 201, 503, 504},
              "with the payments node killed, every order is answered in time (slowest %.2f s): "
              "%s" % (client.slowest, during))
        check(refusals >= MIN_503, "the payments breaker opened: %d orders refused with 503 "
              "(at least %d)" % (refusals, MIN_503))
        check(not slow_503, "each 503 came at once (under %.1f s): slow ones %s" %
              (FAST_503_S, slow_503[:5]))
        check(not bad_503, "each 503 is problem+json with Retry-After: %s" % bad_503[:3])
        check(seen_open is not None and opens0 is not None and seen_open == opens0 + 1,
              "n1's metrics show the provider breaker open (1) with opens %s -> %s (+1)" %
              (opens0, seen_open))
        check(after_first.count(503) == len(after_first),
              "from the first refusal on, every new order is refused at once: %s" %
              {s: after_first.count(s) for s in set(after_first)})
        victim.start()
        t_back, first_201 = time.time(), None
        while time.time() < t_back + 20 and first_201 is None:
            status, _ = client.order()
            if status == 201:
                first_201 = time.time() - t_back
            else:
                time.sleep(0.2)
        check(first_201 is not None, "after the payments node's restart the breaker closes: an "
              "order placed after %s s" % (None if first_201 is None else round(first_201, 1)))
        after = {}
        for _ in range(10):
            status, _ = client.order()
            after[status] = after.get(status, 0) + 1
        check(after.get(201, 0) >= 8, "then orders are placed again: %s" % after)
        back = scrape(nodes[0])
        check(provider(back, "troupe_breaker_state") == 0 and
              (provider(back, "troupe_breaker_opens_total") or 0) >= (opens0 or 0) + 1,
              "after the restart the metrics show it closed again: state %s, opened %s" %
              (provider(back, "troupe_breaker_state"), provider(back, "troupe_breaker_opens_total")))
        check(scrapes["count"] >= 3 and not scrapes["refused"],
              "promtool check metrics passed on every scrape (%d): refused %s" %
              (scrapes["count"], scrapes["refused"][:2]))
        reader = nodes[1].http
        lost, unfinished = [], []
        deadline = time.time() + 20
        for key, oid in client.acked.items():
            while True:
                status, body = request(reader, "GET", "/orders/%d" % oid)
                state = json.loads(body).get("state") if status == 200 else None
                if state in ("confirmed", "cancelled") or time.time() > deadline:
                    break
                time.sleep(0.2)
            if status != 200:
                lost.append((key, oid, status))
            elif state not in ("confirmed", "cancelled"):
                unfinished.append((key, oid, state))
        check(not lost, "every acknowledged order (%d) reads back through n2: lost %s" %
              (len(client.acked), lost[:5]))
        check(not unfinished, "each ends confirmed or cancelled: unfinished %s" % unfinished[:5])
        key, oid = next(iter(client.acked.items()))
        status, body = request(nodes[3].http, "POST", "/orders", json.dumps({"item": 1, "qty": 1}),
                               {"Idempotency-Key": key})
        check(status == 200 and json.loads(body)["id"] == oid,
              "a retry of an acknowledged key through n4 answers the same order (%d)" % status)
        for n in nodes:
            check(n.proc.poll() is None, "%s is running at the end" % n.name)
    finally:
        for n in nodes:
            n.stop()


def main():
    exe = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="troupe-shop-kill9-")
    try:
        run(exe, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
