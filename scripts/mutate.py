#!/usr/bin/env python3
"""mutate.py — mutation testing of the services: does the default nemesis with the checkers
notice when a service's code is changed in small, plausible ways?

For each source file named, it finds mutation sites (flipped comparisons, && for || and back,
a majority that counts one less, a quorum of one, an off-by-one, a durable reply made plain,
a skipped durability wait), draws up to --mutants of them with a seeded random stream, and
for each one: writes the mutant into a scratch worktree of the current commit, builds the
troupe binary alone (ReleaseFast, incrementally), and runs the workload's default sweep. A
mutant is *killed* when the sweep exits non-zero (a violated guarantee, an unknown verdict,
an error or a crash), *survived* when it exits 0, and *stillborn* when it does not compile
(left out of the share). It prints one line per mutant and the share killed per file, and
exits 0 (it measures; it does not judge). --keep DIR keeps the mutants' binaries (to re-run
them under other --sim-args without a build); --survivors LOG runs only the mutants an
earlier output marked SURVIVED. docs/mutation.md has the operators and the results.

    python3 scripts/mutate.py actors/register_cp.c:cp actors/stock.c:stock
    python3 scripts/mutate.py --mutants 40 --seeds 1..20 actors/stock.c:stock

Each argument is FILE:WORKLOAD (the workload of `troupe sim --workload` that exercises the
file). The scratch worktree lives under /tmp and is removed at the end.
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile

OPERATORS = [
    ("flip <=", re.compile(r"(?<![<>=!])<=(?!=)"), "<"),
    ("flip <", re.compile(r"(?<![<>=!-])<(?![<=])"), "<="),
    ("flip >=", re.compile(r"(?<![<>=!])>=(?!=)"), ">"),
    ("flip >", re.compile(r"(?<![<>=!-])>(?![>=])"), ">="),
    ("flip ==", re.compile(r"=="), "!="),
    ("flip !=", re.compile(r"!="), "=="),
    ("&& to ||", re.compile(r"&&"), "||"),
    ("|| to &&", re.compile(r"\|\|"), "&&"),
    ("majority less one", re.compile(r"/ 2 \+ 1"), "/ 2"),
    # A skipped quorum check: a quorum function's answer replaced by one reply.
    ("quorum of one", re.compile(r"\b(majority|quorum)\((s|self|st|state)?\)"), "1u"),
    # Off by one, as in a term, epoch, sequence or bound compared one too far.
    ("+ 1 dropped", re.compile(r"(?<=[\w)\]] )\+ 1\b(?!\.)"), "+ 0"),
    ("- 1 dropped", re.compile(r"(?<=[\w)\]] )- 1\b(?!\.)"), "- 0"),
    ("durable reply made plain", re.compile(r"\btr_reply_durable\("), "tr_reply("),
    # A durability wait dropped: the statement form, and the call inside an expression (as if
    # the wait were registered, but no TR_MSG_DURABLE will ever come).
    ("no durability wait", re.compile(r"(?<![\w(?:] )\btr_durable_notify\([^;]*\);"), "(void)0;"),
    ("no durability wait", re.compile(r"(?<=[(?:] )tr_durable_notify\([^;]*?\)(?=;)"), "0"),
]

# Lines whose mutants cannot change behaviour: comments, preprocessor lines, assertions (off
# in the ReleaseFast build the sweeps run) and logging.
SKIP_LINE = re.compile(r"^\s*(#|/?\*|//)|\bassert\(|TR_ASSERT|TR_DEBUG_ASSERT|_Static_assert|"
                       r"#include|\btr_log|\bTR_LOG|\bfprintf\(|\bprintf\(")


def sites(text):
    """Every (line index, column, operator index) where an operator applies, outside
    comments, preprocessor lines, assertions and string literals."""
    out = []
    for i, line in enumerate(text.split("\n")):
        if SKIP_LINE.search(line):
            continue
        code = re.sub(r'"(\\.|[^"\\])*"', lambda m: " " * len(m.group(0)), line)
        code = code.split("//")[0]
        code = re.sub(r"/\*.*?\*/", lambda m: " " * len(m.group(0)), code)
        if "->" in code:
            code = code.replace("->", "  ")
        for k, (_, pat, _) in enumerate(OPERATORS):
            for m in pat.finditer(code):
                out.append((i, m.start(), k))
    return out


def apply(text, site):
    i, col, k = site
    lines = text.split("\n")
    _, pat, repl = OPERATORS[k]
    m = pat.match(lines[i], col)
    lines[i] = lines[i][:col] + repl + lines[i][m.end():]
    return "\n".join(lines), lines[i].strip()


def survivors_in(log, path, text, found):
    """The sites of `path` whose mutants the output `log` marked SURVIVED: matched by line,
    operator and the mutated line shown (a log line may or may not carry the column)."""
    pat = re.compile(r"^(\S+?):(\d+)(?::\d+)?: (.+?): SURVIVED: .*  =>  (.*)$")
    out = []
    for line in open(log):
        m = pat.match(line.rstrip("\n"))
        if not m or m.group(1) != path:
            continue
        for site in found:
            if (site[0] + 1 == int(m.group(2)) and OPERATORS[site[2]][0] == m.group(3)
                    and apply(text, site)[1] == m.group(4) and site not in out):
                out.append(site)
                break
    return sorted(out)


def prepare_scratch_build(work):
    """Edits the scratch tree's build.zig (never the repository's): a step "mutant" that
    builds and installs the troupe binary alone (not the library, the modules or the tests,
    which would compile each mutated file a dozen times), and -Wparentheses not an error (a
    mutant's `a && b || c` is a behaviour to judge, not a reason to be stillborn)."""
    path = os.path.join(work, "build.zig")
    text = open(path).read()
    anchor = "    b.installArtifact(exe);\n"
    if anchor not in text or '"-Werror",\n' not in text:
        sys.exit("mutate.py: build.zig has changed shape; update prepare_scratch_build")
    text = text.replace(anchor, anchor + '    b.step("mutant", "troupe alone")'
                        ".dependOn(&b.addInstallArtifact(exe, .{}).step);\n", 1)
    text = text.replace('"-Werror",\n', '"-Werror",\n    "-Wno-parentheses",\n', 1)
    open(path, "w").write(text)


def run(cmd, cwd, timeout):
    try:
        return subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return 124


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="+", help="FILE:WORKLOAD")
    ap.add_argument("--mutants", type=int, default=15, help="mutants per file (default 15)")
    ap.add_argument("--seeds", default="1..10", help="the sweep's seeds (default 1..10)")
    ap.add_argument("--seed", type=int, default=1, help="draws the mutants (default 1)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per sweep (default 900)")
    ap.add_argument("--survivors", metavar="LOG", help="run only the mutants that an earlier "
                    "output of this script, LOG, marked SURVIVED (to judge changed checks on "
                    "them; a check added can only kill more)")
    ap.add_argument("--keep", metavar="DIR", help="keep each mutant's troupe binary in DIR, "
                    "and reuse one found there instead of building it again (to re-run the "
                    "same mutants under other --sim-args)")
    ap.add_argument("--sim-args", default="", help="more troupe sim options for every sweep, "
                    "e.g. \"--nemesis partition,crash,pause,clock\" (default: none, the "
                    "workload's declared nemesis)")
    a = ap.parse_args()
    # A SIGTERM unwinds like an exception, so the scratch worktree is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("mutate.py: terminated"))
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                          text=True, check=True).stdout.strip()
    scratch = tempfile.mkdtemp(prefix="troupe-mutate-")
    work = os.path.join(scratch, "tree")
    subprocess.run(["git", "-C", root, "worktree", "add", "--detach", work, "HEAD"],
                   check=True, capture_output=True)
    prepare_scratch_build(work)
    zig = [sys.executable, "-m", "ziglang", "build", "mutant", "-Doptimize=ReleaseFast"]
    totals = []
    try:
        if run(zig, work, 3600) != 0:
            sys.exit("mutate.py: the unmutated tree does not build")
        for t in a.targets:
            path, _, workload = t.partition(":")
            if not workload:
                sys.exit(f"mutate.py: {t}: expected FILE:WORKLOAD")
            sweep = [os.path.join(work, "zig-out/bin/troupe"), "sim", "--workload", workload,
                     "--seeds", a.seeds] + a.sim_args.split()
            if run(sweep, work, a.timeout) != 0:
                print(f"{path}: the unmutated sweep fails; skipped")
                continue
            original = open(os.path.join(work, path)).read()
            found = sites(original)
            rng = random.Random(f"{a.seed}:{path}")
            chosen = sorted(rng.sample(found, min(a.mutants, len(found))))
            if a.survivors:
                chosen = survivors_in(a.survivors, path, original, found)
            killed = survived = stillborn = 0
            for n, site in enumerate(chosen, 1):
                mutant, shown = apply(original, site)
                open(os.path.join(work, path), "w").write(mutant)
                name = OPERATORS[site[2]][0]
                binary = sweep[0]
                if a.keep:
                    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{path}-{site[0] + 1}-{site[1]}-{name}")
                    binary = os.path.join(os.path.abspath(a.keep), slug)
                if binary != sweep[0] and os.path.exists(binary):
                    built = True
                else:
                    built = run(zig, work, 3600) == 0
                    if built and binary != sweep[0]:
                        os.makedirs(os.path.dirname(binary), exist_ok=True)
                        shutil.copy(sweep[0], binary)
                if not built:
                    verdict = "stillborn"
                    stillborn += 1
                else:
                    rc = run([binary] + sweep[1:], work, a.timeout)
                    verdict = f"killed (exit {rc})" if rc != 0 else "SURVIVED"
                    killed += rc != 0
                    survived += rc == 0
                before = original.split("\n")[site[0]].strip()
                print(f"{path}:{site[0] + 1}:{site[1]}: {name}: {verdict}: {before}  =>  {shown}",
                      flush=True)
            open(os.path.join(work, path), "w").write(original)
            if run(zig, work, 3600) != 0:  # the next file's unmutated sweep needs this build
                sys.exit("mutate.py: the unmutated tree no longer builds")
            judged = killed + survived
            share = 100.0 * killed / judged if judged else 0.0
            totals.append((path, workload, killed, survived, stillborn, len(found)))
            print(f"{path} (--workload {workload} --seeds {a.seeds} {a.sim_args}): {killed} of {judged} "
                  f"mutants killed ({share:.0f}%), {stillborn} stillborn, {len(found)} sites",
                  flush=True)
    finally:
        subprocess.run(["git", "-C", root, "worktree", "remove", "--force", work],
                       capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    for path, workload, k, s, sb, nsites in totals:
        print(f"summary: {path}: killed {k}, survived {s}, stillborn {sb} ({nsites} sites)")


if __name__ == "__main__":
    main()
