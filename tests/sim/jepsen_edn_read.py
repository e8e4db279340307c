"""Reads a Jepsen- or Knossos-style EDN history with edn_format (PyPI), a reader troupe shares
no code with, and prints what tests/sim/test_jepsen_history.c compares with troupe's reader:
"CLIENT OTHER SHAPE" -- the ops whose :process is an integer, the others (:nemesis...), and
"keyed" when the first client op's value is [integer v] (a cas's v a pair), else "single".
Usage: jepsen_edn_read.py FILE; exit 0 after printing, 1 when the file is not EDN."""
import collections.abc
import sys

import edn_format
from edn_format import Keyword


def ops_of(forms):
    # One vector or list of maps, or maps one after another.
    if len(forms) == 1 and not isinstance(forms[0], dict):
        return list(forms[0])
    return forms


def is_vector(x):
    return isinstance(x, collections.abc.Sequence) and not isinstance(x, str)


def keyed(op):
    v = op.get(Keyword("value"))
    if not is_vector(v) or len(v) != 2 or type(v[0]) is not int:
        return False
    if op.get(Keyword("f")) == Keyword("cas"):
        inner = v[1]
        return is_vector(inner) and len(inner) == 2 and all(
            type(x) is int for x in inner)
    return True


def main(path):
    with open(path, encoding="utf-8") as f:
        forms = edn_format.loads_all(f.read())
    client = other = 0
    shape = None
    for op in ops_of(forms):
        if type(op.get(Keyword("process"))) is int:
            client += 1
            if shape is None:
                shape = "keyed" if keyed(op) else "single"
        else:
            other += 1
    print(client, other, shape or "single")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as e:  # the reason, one line, for the test's message
        print("not EDN:", e)
        sys.exit(1)
