#!/usr/bin/env python3
"""Opens a `troupe sim --report` page in headless Chromium and checks what it rendered.

    check_page.py sim TROUPE OUT EXPECT [SIM ARGS...]
        runs `TROUPE sim SIM ARGS --json --history OUT/history.json --report OUT/page`,
        expects exit status EXPECT, then checks OUT/page/index.html against that run's
        --json output and exported histories;
    check_page.py page PAGE RUN_JSON HISTORY [CAP]
        checks an existing page against a run JSON (fault_timeline, counterexample) and one
        exported history; CAP: the page may draw at most CAP bars (the first CAP by invoke
        order, and the counterexample's) and must say it left the rest out.

Chromium (Debian's chromium, run as --headless --no-sandbox --disable-gpu) takes a screenshot
(OUT/page.png, kept as an artefact) and dumps the DOM after the page's script ran. It fails on
any console message (the page logs nothing, so a message is an error or a warning) and when
the DOM does not hold, for every workload's timeline: one rect.op per history operation with
exactly the history's invoke indices, one rect.fault per fault of the fault timeline in order,
the counterexample's operations (and only they) classed ce; and the summary's trace hash.
Exit 0 when every check passed, 1 with the failures listed, 2 when it cannot run.
"""
import html.parser
import json
import os
import shutil
import subprocess
import sys

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files"]


class Dom(html.parser.HTMLParser):
    """The parts of the rendered page the checks read."""

    def __init__(self):
        super().__init__()
        self.svg = None          # the data-workload of the timeline being read
        self.bars = {}           # workload -> [(index, classes)]
        self.faults = {}         # workload -> [kind]
        self.rendered = False
        self.capped = 0
        self.texts = []
        self.in_summary = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "body" and a.get("data-rendered") == "1":
            self.rendered = True
        if tag == "svg" and "timeline" in cls:
            self.svg = a.get("data-workload")
            self.bars.setdefault(self.svg, [])
            self.faults.setdefault(self.svg, [])
        if tag == "rect" and self.svg is not None:
            if "op" in cls:
                self.bars[self.svg].append((int(a["data-index"]), cls))
            if "fault" in cls:
                self.faults[self.svg].append(a.get("data-kind"))
        if tag == "p" and "capped" in cls:
            self.capped += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None

    def handle_data(self, data):
        self.texts.append(data)


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check_page: chromium not found (scripts/bootstrap.sh installs Debian's chromium)")


def run_chromium(args, page):
    """stdout of chromium ARGS page, after failing on any console message."""
    p = subprocess.run([chromium()] + CHROMIUM_FLAGS + args + ["file://" + os.path.abspath(page)],
                       capture_output=True, text=True, timeout=180)
    console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l]
    if p.returncode != 0:
        sys.exit("check_page: chromium exited %d: %s" % (p.returncode, p.stderr[-2000:]))
    return p.stdout, console


def invokes(history_path):
    with open(history_path) as f:
        ops = json.load(f)
    return [op["index"] for op in ops if op["type"] == "invoke"]


def check(page, faults, histories, ces, trace_hash, cap, shot):
    """Failures of the page against the run (a list of strings)."""
    bad = []
    _, console = run_chromium(["--window-size=1280,2400", "--screenshot=" + shot], page)
    dom_text, console2 = run_chromium(["--dump-dom"], page)
    bad += ["console: " + l for l in console + console2]
    if not os.path.exists(shot):
        bad.append("no screenshot at " + shot)
    dom = Dom()
    dom.feed(dom_text)
    if not dom.rendered:
        bad.append("the page's script did not finish (no data-rendered on body)")
    if trace_hash is not None and trace_hash not in "".join(dom.texts):
        bad.append("the summary does not show the trace hash " + trace_hash)
    if sorted(dom.bars) != sorted(histories):
        bad.append("timelines %s, expected one per workload %s" % (sorted(dom.bars),
                                                                    sorted(histories)))
    kinds = [f["kind"] for f in faults]
    for name, path in histories.items():
        bars = dom.bars.get(name, [])
        drawn = [i for i, _ in bars]
        want = invokes(path)
        ce = set(ces.get(name) or [])
        if cap is not None and len(want) > cap:
            want = sorted(set(want[:cap]) | (ce & set(want)))
            if dom.capped == 0:
                bad.append("%s: %d bars of more operations, and no note that some are left out"
                           % (name, len(bars)))
        if sorted(drawn) != sorted(want) or len(drawn) != len(set(drawn)):
            bad.append("%s: %d bars, expected one per operation of the history (%d)%s" %
                       (name, len(drawn), len(want),
                        "; missing " + str(sorted(set(want) - set(drawn))[:5])
                        if set(want) - set(drawn) else ""))
        marked = {i for i, cls in bars if "ce" in cls}
        if marked != ce:
            bad.append("%s: operations marked %s, the counterexample's are %s" %
                       (name, sorted(marked), sorted(ce)))
        if dom.faults.get(name, []) != kinds:
            bad.append("%s: fault intervals %s, the fault timeline has %s" %
                       (name, dom.faults.get(name), kinds))
    return bad, dom


def ce_indices(ce):
    return [op["index"] for op in ce["ops"]] if ce and ce.get("listed") else []


def sim_mode(troupe, out, expect, args):
    os.makedirs(out, exist_ok=True)
    hist = os.path.join(out, "history.json")
    page_dir = os.path.join(out, "page")
    p = subprocess.run([troupe, "sim"] + args + ["--json", "--history", hist, "--report",
                                                   page_dir],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != expect:
        sys.exit("check_page: troupe sim %s exited %d, expected %d: %s" %
                 (" ".join(args), p.returncode, expect, p.stderr[-1000:]))
    run = json.loads(p.stdout)
    names = [k for k in ("cp", "ap", "stock") if isinstance(run.get(k), dict)]
    if len(names) > 1:
        histories = {k: hist + "." + k for k in names}
    else:
        histories = {(names[0] if names else None): hist}
    if names:
        ces = {k: ce_indices(run[k].get("counterexample")) for k in names}
    else:
        ces = {None: ce_indices(run.get("counterexample"))}
    return run, histories, ces, os.path.join(page_dir, "index.html")


def main(argv):
    if len(argv) >= 4 and argv[1] == "sim":
        troupe, out, expect, args = argv[2], argv[3], int(argv[4]), argv[5:]
        run, histories, ces, page = sim_mode(troupe, out, expect, args)
        cap, shot = None, os.path.join(out, "page.png")
    elif len(argv) in (5, 6) and argv[1] == "page":
        page = argv[2]
        with open(argv[3]) as f:
            run = json.load(f)
        histories = {None: argv[4]}
        ces = {None: ce_indices(run.get("counterexample"))}
        cap = int(argv[5]) if len(argv) == 6 else None
        shot = os.path.join(os.path.dirname(page), "page.png")
    else:
        sys.exit(__doc__)
    # The one timeline of a single workload is named by the page; the run JSON may not name it.
    probe = Dom()
    if None in histories:
        dom_text, _ = run_chromium(["--dump-dom"], page)
        probe.feed(dom_text)
        if len(probe.bars) == 1:
            name = next(iter(probe.bars))
            histories = {name: histories[None]}
            ces = {name: ces[None]}
    bad, dom = check(page, run.get("fault_timeline", []), histories, ces, run.get("trace_hash"),
                     cap, shot)
    for b in bad:
        print("check_page: " + b)
    bars = sum(len(v) for v in dom.bars.values())
    print("check_page: %s: %d timelines, %d bars, %d fault intervals each, %d marked; %s" %
          (page, len(dom.bars), bars, len(run.get("fault_timeline", [])),
           sum(len(v or []) for v in ces.values()), "FAILED" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
