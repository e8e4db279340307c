"""Reads a history that tests/sim/test_history_values.c wrote, as EDN and as JSON, with
readers troupe does not share code with: edn_format (PyPI) and python's json module. Both
must give the fields and the values the test recorded: nil, integers, strings (escapes and
non-ASCII), keywords, bytes as {:base64 ...} / {"base64": ...}, nested tuples.
Usage: history_values_read.py FILE.edn FILE.json; exit 0 when both read as expected."""
import base64
import collections.abc
import json
import sys

import edn_format

# The values of the test's history, in order: ("kw", name) is a keyword, ("bytes", b) bytes.
TEXT = 'h\u00e9llo "w"\n\t\x01 \u2713'
EXPECTED = [
    TEXT,
    TEXT,
    None,
    TEXT,
    [1, "a", ("kw", "kw"), None, [2, 3], ("bytes", b"\x00\x01\xff\x80")],
    ("kw", "done"),
    ("bytes", b"\x81\xa1a\x01"),
    None,
    [4, 5],
    [4, 5],
    [7, 8],
    9,
    [1, 2],
    [1, 2],
]
FIELDS = ["index", "time", "type", "process", "f", "value", "node", "error"]


def canon_edn(x):
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, bool):
        raise ValueError("a boolean is not a troupe value")
    if isinstance(x, int):
        return x
    if isinstance(x, edn_format.Keyword):
        return ("kw", x.name)
    if isinstance(x, collections.abc.Sequence):
        return [canon_edn(i) for i in x]
    if isinstance(x, collections.abc.Mapping) and list(x.keys()) == [edn_format.Keyword("base64")]:
        return ("bytes", base64.b64decode(x[edn_format.Keyword("base64")], validate=True))
    raise ValueError("unexpected EDN value %r" % (x,))


def canon_json(x):
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, bool):
        raise ValueError("a boolean is not a troupe value")
    if isinstance(x, int):
        return x
    if isinstance(x, list):
        return [canon_json(i) for i in x]
    if isinstance(x, dict) and list(x.keys()) == ["keyword"]:
        return ("kw", x["keyword"])
    if isinstance(x, dict) and list(x.keys()) == ["base64"]:
        return ("bytes", base64.b64decode(x["base64"], validate=True))
    raise ValueError("unexpected JSON value %r" % (x,))


def ops_from_edn(text):
    out = []
    for m in edn_format.loads(text):
        op = {k.name: v for k, v in m.items()}
        for k in ("type", "f"):
            op[k] = op[k].name
        op["value"] = canon_edn(op["value"])
        out.append({k: op.get(k) for k in FIELDS})
    return out


def ops_from_json(text):
    out = []
    for op in json.loads(text):
        op["value"] = canon_json(op["value"])
        out.append({k: op.get(k) for k in FIELDS})
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        edn_ops = ops_from_edn(f.read())
    with open(sys.argv[2], encoding="utf-8") as f:
        json_ops = ops_from_json(f.read())
    values = [op["value"][1] for op in edn_ops]
    if values != EXPECTED:
        print("EDN values differ:\n got  %r\n want %r" % (values, EXPECTED))
        return 1
    if edn_ops != json_ops:
        for a, b in zip(edn_ops, json_ops):
            if a != b:
                print("EDN and JSON differ:\n EDN  %r\n JSON %r" % (a, b))
        return 1
    if [op["error"] for op in edn_ops][7] != "timeout":
        print("the info op lost its error")
        return 1
    print("history_values_read: %d ops read alike by edn_format and json" % len(edn_ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
