#!/usr/bin/env python3
"""An independent client of troupe's wire protocol, version 2, written from
docs/wire-protocol.md alone (no troupe code): the handshake with its HMAC, one
request to "echo", the reply matched by corr and the reply flag; then a request
to a name that is not registered, answered at once with the error reply.

usage: v2_client.py HOST:PORT SECRET_FILE
Exit 0 when every step behaved as the document says, 1 otherwise (with why).
The msgpack subset the document uses is encoded and decoded here by hand."""
import hashlib
import hmac
import os
import socket
import struct
import sys


# ---- the msgpack subset: uint, negative fixint, str, bin, nil, array, map ----------------
def pack(v):
    if v is None:
        return b"\xc0"
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 0x80:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack(">b", v)
        for tag, fmt, lim in ((0xCC, ">B", 1 << 8), (0xCD, ">H", 1 << 16),
                              (0xCE, ">I", 1 << 32), (0xCF, ">Q", 1 << 64)):
            if 0 <= v < lim:
                return bytes([tag]) + struct.pack(fmt, v)
        raise ValueError(v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, (bytes, bytearray)):
        return b"\xc4" + bytes([len(v)]) + bytes(v)
    if isinstance(v, list):
        return bytes([0x90 | len(v)]) + b"".join(pack(x) for x in v)
    raise TypeError(v)


def unpack(b, i=0):
    t = b[i]
    if t < 0x80:
        return t, i + 1
    if t >= 0xE0:
        return t - 256, i + 1
    if 0x90 <= t <= 0x9F or 0x80 <= t <= 0x8F:
        n, i = t & 0x0F, i + 1
        items = []
        for _ in range(n * (2 if t < 0x90 else 1)):
            x, i = unpack(b, i)
            items.append(x)
        return (items if t >= 0x90 else dict(zip(items[::2], items[1::2]))), i
    if 0xA0 <= t <= 0xBF:
        n = t & 0x1F
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if t == 0xC0:
        return None, i + 1
    if t in (0xC2, 0xC3):
        return t == 0xC3, i + 1
    if t in (0xC4, 0xD9):
        n = b[i + 1]
        raw = b[i + 2:i + 2 + n]
        return (raw if t == 0xC4 else raw.decode()), i + 2 + n
    if t == 0xC5:
        n = struct.unpack(">H", b[i + 1:i + 3])[0]
        return b[i + 3:i + 3 + n], i + 3 + n
    for tag, fmt, n in ((0xCC, ">B", 1), (0xCD, ">H", 2), (0xCE, ">I", 4), (0xCF, ">Q", 8)):
        if t == tag:
            return struct.unpack(fmt, b[i + 1:i + 1 + n])[0], i + 1 + n
    raise ValueError("msgpack byte 0x%02x not in the subset" % t)


# ---- frames -------------------------------------------------------------------------------
def send_frame(s, value):
    payload = pack(value)
    s.sendall(struct.pack(">I", len(payload)) + payload)


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed")
        out += chunk
    return out


def recv_frame(s):
    n = struct.unpack(">I", recv_exact(s, 4))[0]
    payload = recv_exact(s, n)
    value, end = unpack(payload)
    if end != n:
        raise ValueError("trailing bytes in a frame")
    return value


def fail(why):
    print("v2_client: " + why, file=sys.stderr)
    sys.exit(1)


def lp(b):
    return struct.pack(">I", len(b)) + b


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    with open(sys.argv[2], "rb") as f:
        key = f.read().rstrip(b"\r\n")  # section 3: trailing CR and LF only
    cluster, name, my_id = "troupe", "pyclient", 0x80000000 | (os.getpid() & 0xFFFF)
    s = socket.create_connection((host, int(port)), timeout=5)
    nonce_i = os.urandom(32)
    send_frame(s, [16, 2, cluster, name, my_id, 1, "", 1, nonce_i])  # HELLO, client flag
    hello = recv_frame(s)
    while hello[0] == 18:
        hello = recv_frame(s)
    if hello[0] != 16 or hello[1] != 2 or len(hello) != 9:
        fail("not a version-2 HELLO: %r" % (hello,))
    node_name, node_id, nonce_a = hello[3], hello[4], hello[8]

    def mac(role):
        t = (b"troupe-auth-v1" + role + lp(cluster.encode()) + lp(name.encode()) +
             struct.pack(">I", my_id) + lp(node_name.encode()) + struct.pack(">I", node_id) +
             nonce_i + nonce_a)
        return hmac.new(key, t, hashlib.sha256).digest()

    send_frame(s, [17, mac(b"I")])
    auth = recv_frame(s)
    if auth[0] != 17 or not hmac.compare_digest(auth[1], mac(b"A")):
        fail("the node's AUTH does not verify: %r" % (auth,))

    def request(to_name, typ, body, corr):
        # section 4: kind, type, from.node, from.actor, to.node, to.actor, corr, trace,
        # deadline_ms, flags, to_name, body
        send_frame(s, [1, typ, my_id, 1, node_id, 0, corr, None, 0, 0, to_name, pack(body)])
        while True:
            f = recv_frame(s)
            if f[0] == 21:
                fail("REASON frame: %r" % (f,))
            if f[0] == 1 and f[9] & 1 and f[6] == corr:
                return f

    corr = (1 << 63) | 7
    r = request("echo", 300, ["hello", 42], corr)
    if len(r) != 12 or r[1] != 300 or r[4] != my_id or r[5] != 1:
        fail("echo's reply is not addressed to us: %r" % (r,))
    if unpack(r[11])[0] != ["hello", 42]:
        fail("echo's reply body %r" % (r[11],))
    r = request("nobody", 300, 1, corr + 1)
    if r[1] != 1 or unpack(r[11])[0] != -24:
        fail("no 'no such actor' error reply (type 1, body -24): %r" % (r,))
    print("v2_client: handshake, echo and the no-such-actor reply as documented")


if __name__ == "__main__":
    main()
