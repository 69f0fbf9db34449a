#!/usr/bin/env python3
"""Send hand-encoded requests that kazoo, zkCli.sh and cli_mt never send, and record the real
server's replies as a golden fixture.

Usage: python3 tools/capture_raw.py [--out zk-proto/tests/fixtures/raw.txt]
Needs: Debian `zookeeper`. Starts its own server (tools/zk_server.py, extendedTypesEnabled=true)
and talks to it through tools/capture_proxy.py. The requests are our own encoding (PROTOCOL.md);
the point of the file is the server's replies, which are real bytes. Each step prints what came
back, and the script fails if a reply code differs from what PROTOCOL.md says for 3.8.0.
"""

import argparse
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capture_common import capture  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "zk-proto", "tests", "fixtures", "raw.txt")

# opcodes
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_ACL, SET_ACL, GET_CHILDREN, SYNC = 1, 2, 3, 4, 5, 6, 7, 8, 9
PING, GET_CHILDREN2, CHECK, MULTI, CREATE2, RECONFIG, CHECK_WATCHES, REMOVE_WATCHES = 11, 12, 13, 14, 15, 16, 17, 18
CREATE_CONTAINER, DELETE_CONTAINER, CREATE_TTL, MULTI_READ = 19, 20, 21, 22
AUTH, SET_WATCHES, SASL, GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER, SET_WATCHES2, ADD_WATCH, WHO_AM_I = (
    100, 101, 102, 103, 104, 105, 106, 107)
CLOSE_SESSION = -11


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def buffer(b):
    return i32(-1) if b is None else i32(len(b)) + b


def ustring(s):
    return i32(-1) if s is None else buffer(s.encode("utf-8"))


def vector(items, enc):
    return i32(-1) if items is None else i32(len(items)) + b"".join(enc(x) for x in items)


OPEN_ACL = [(31, "world", "anyone")]


def acl(a):
    perms, scheme, ident = a
    return i32(perms) + ustring(scheme) + ustring(ident)


def create_body(path, data=b"", flags=0, acls=OPEN_ACL):
    return ustring(path) + buffer(data) + vector(acls, acl) + i32(flags)


def path_watch(path, watch=False):
    return ustring(path) + boolean(watch)


def multi_body(ops):
    """ops: [(opcode, body)] -> MultiOperationRecord."""
    out = b""
    for op, body in ops:
        out += i32(op) + boolean(False) + i32(-1) + body
    return out + i32(-1) + boolean(True) + i32(-1)


def connect_request(session_id=0, passwd=b"\x00" * 16, last_zxid=0, timeout=30000, read_only=True):
    body = i32(0) + i64(last_zxid) + i32(timeout) + i64(session_id) + buffer(passwd)
    if read_only:
        body += boolean(False)
    return i32(len(body)) + body


class Session:
    """A raw protocol client: one connection, blocking, FIFO replies."""

    def __init__(self, port, **connect):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.xid = 0
        self.events = []
        self.sock.sendall(connect_request(**connect))
        self.connect_response = self.read_frame()
        r = self.connect_response
        if r is not None and len(r) >= 32:
            self.timeout, self.session_id = struct.unpack(">iq", r[4:16])
            self.passwd = r[20:36]

    def read_frame(self, timeout=10):
        self.sock.settimeout(timeout)
        head = self._exact(4)
        if head is None:
            return None
        (n,) = struct.unpack(">i", head)
        return self._exact(n)

    def _exact(self, n):
        out = b""
        while len(out) < n:
            try:
                chunk = self.sock.recv(n - len(out))
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            out += chunk
        return out

    def call(self, op, body=b"", xid=None, expect=0, reply=True):
        """Sends a request; returns (err, zxid, body) of its reply; checks err == expect."""
        if xid is None:
            self.xid += 1
            xid = self.xid
        payload = i32(xid) + i32(op) + body
        self.sock.sendall(i32(len(payload)) + payload)
        if not reply:
            return None
        while True:
            frame = self.read_frame()
            if frame is None:
                raise AssertionError(f"op {op}: connection closed before the reply")
            rxid, zxid, err = struct.unpack(">iqi", frame[:16])
            if rxid == -1:
                self.events.append(frame[16:])
                continue
            if rxid != xid:
                raise AssertionError(f"op {op}: reply xid {rxid}, expected {xid}")
            if expect is not None and err != expect:
                raise AssertionError(f"op {op}: err {err}, expected {expect}")
            print(f"  op {op:>4} xid {xid:>4}: err {err:>5} zxid {zxid:#x} body {len(frame) - 16} bytes")
            return err, zxid, frame[16:]

    def expect_closed(self, within=5):
        frame = self.read_frame(timeout=within)
        if frame is not None:
            raise AssertionError(f"expected the server to close, got {frame.hex()}")

    def close(self):
        self.sock.close()


def scenario(port, step):
    step("step: new session; set up /r")
    s = Session(port)
    assert len(s.connect_response) == 37
    s.call(CREATE, create_body("/r", b"r"))
    s.call(CREATE, create_body("/r/a", b"a"))
    s.call(CREATE, create_body("/r/b", None))
    s.call(CREATE2, create_body("/r/e", b"eph", flags=1))

    step("step: xid 0 is echoed like any other; ping (xid -2)")
    s.call(GET_DATA, path_watch("/r/a"), xid=0)
    s.call(PING, xid=-2)

    step("step: multiRead (22): getData, getChildren, getData of a missing node (per-op error)")
    s.call(MULTI_READ, multi_body([
        (GET_DATA, path_watch("/r")),
        (GET_CHILDREN, path_watch("/r")),
        (GET_DATA, path_watch("/r/missing")),
    ]))

    step("step: multi (14): empty; create + create2 + createContainer + createTTL (result types); read op inside -> -5")
    s.call(MULTI, multi_body([]))
    s.call(MULTI, multi_body([
        (CREATE, create_body("/r/m1", b"1")),
        (CREATE2, create_body("/r/m2", b"2")),
        (CREATE_CONTAINER, create_body("/r/mc", b"", flags=4)),
        (CREATE_TTL, create_body("/r/mt", b"", flags=5) + i64(60000)),
        (CHECK, ustring("/r/m1") + i32(0)),
        (DELETE, ustring("/r/m2") + i32(-1)),
    ]))
    s.call(MULTI, multi_body([(GET_DATA, path_watch("/r"))]), expect=-5)

    step("step: createTTL (21): persistent TTL, sequential TTL, ttl 0 -> -8, non-TTL flag -> -8; TTL flag via create -> -8")
    s.call(CREATE_TTL, create_body("/r/ttl", b"t", flags=5) + i64(60000))
    s.call(CREATE_TTL, create_body("/r/ttls-", b"", flags=6) + i64(60000))
    s.call(CREATE_TTL, create_body("/r/ttl0", b"", flags=5) + i64(0), expect=-8)
    s.call(CREATE_TTL, create_body("/r/ttlp", b"", flags=0) + i64(60000), expect=-8)
    s.call(CREATE, create_body("/r/ttlc", b"", flags=5), expect=-8)

    step("step: createContainer (19); deleteContainer (20) from a client -> -8")
    s.call(CREATE_CONTAINER, create_body("/r/cont", b"", flags=4))
    s.call(DELETE_CONTAINER, b"/r/cont", expect=-8)

    step("step: getEphemerals (103) and getAllChildrenNumber (104)")
    s.call(GET_EPHEMERALS, ustring("/"))
    s.call(GET_EPHEMERALS, ustring("/r"))
    s.call(GET_EPHEMERALS, ustring("/nothing"))
    s.call(GET_ALL_CHILDREN_NUMBER, ustring("/r"))
    s.call(GET_ALL_CHILDREN_NUMBER, ustring("/missing"), expect=-101)

    step("step: whoAmI (107) before and after digest auth (100, xid -4)")
    s.call(WHO_AM_I)
    s.call(AUTH, i32(0) + ustring("digest") + buffer(b"alice:secret"), xid=-4)
    s.call(WHO_AM_I)

    step("step: SASL (102) without SASL configured: err 0, null token")
    s.call(SASL, buffer(b"hello"))

    step("step: reconfig (16) disabled -> -123")
    s.call(RECONFIG, ustring(None) + ustring("2") + ustring(None) + i64(-1), expect=-123)

    step("step: a watch fired by the same session: the event comes before the setData reply")
    s.call(GET_DATA, path_watch("/r", True))
    s.call(SET_DATA, ustring("/r") + buffer(b"r2") + i32(-1))

    step("step: addWatch (106) PERSISTENT (0) and PERSISTENT_RECURSIVE (1)")
    s.call(ADD_WATCH, ustring("/r/p") + i32(0))
    s.call(ADD_WATCH, ustring("/r") + i32(1))
    s.call(CREATE, create_body("/r/p", b""))
    s.call(SET_DATA, ustring("/r/p") + buffer(b"x") + i32(-1))

    step("step: checkWatches (17): present -> 0, absent -> -121, type 4 -> -5")
    s.call(GET_DATA, path_watch("/r/a", True))
    s.call(CHECK_WATCHES, ustring("/r/a") + i32(2))
    s.call(CHECK_WATCHES, ustring("/r/b") + i32(1), expect=-121)
    s.call(CHECK_WATCHES, ustring("/r/p") + i32(4), expect=-5)

    step("step: removeWatches (18): data -> 0, absent -> -121, persistent via Any (3) -> 0, type 4 and 5 -> -5")
    s.call(REMOVE_WATCHES, ustring("/r/a") + i32(2))
    s.call(REMOVE_WATCHES, ustring("/r/b") + i32(1), expect=-121)
    s.call(REMOVE_WATCHES, ustring("/r/p") + i32(3))
    s.call(REMOVE_WATCHES, ustring("/r") + i32(4), expect=-5)
    s.call(REMOVE_WATCHES, ustring("/r") + i32(5), expect=-5)

    step("step: setWatches (101) with xid -8 (C style) and with a normal xid (Java style)")
    _, zxid, _ = s.call(EXISTS, path_watch("/r/a"))
    # data: /r/a unchanged (re-registered), /r/gone missing (NodeDeleted);
    # exist: /r/a exists (NodeCreated), /r/none missing (re-registered); child: /r changed (NodeChildrenChanged)
    s.call(SET_WATCHES, i64(1) + vector(["/r/a", "/r/gone"], ustring) + vector(["/r/a", "/r/none"], ustring)
           + vector(["/r"], ustring), xid=-8)
    s.call(SET_WATCHES, i64(zxid) + vector(["/r/b"], ustring) + vector([], ustring) + vector(["/r/b"], ustring))

    step("step: setWatches2 (105) with persistent and recursive lists")
    s.call(SET_WATCHES2, i64(zxid) + vector(["/r/b"], ustring) + vector(["/r/none2"], ustring)
           + vector([], ustring) + vector(["/r/p"], ustring) + vector(["/r"], ustring))
    s.call(SET_DATA, ustring("/r/b") + buffer(b"b") + i32(-1))

    step("step: classic reads and writes: exists NoNode, getChildren2, getACL, setACL bad version, sync, delete")
    s.call(EXISTS, path_watch("/r/nothere"), expect=-101)
    s.call(GET_CHILDREN2, path_watch("/r"))
    s.call(GET_ACL, ustring("/r"))
    s.call(SET_ACL, ustring("/r") + vector(OPEN_ACL, acl) + i32(5), expect=-103)
    s.call(SYNC, ustring("/r"))
    s.call(DELETE, ustring("/r/m1") + i32(-1))
    s.call(GET_DATA, ustring(None) + boolean(False), expect=-5)

    step("step: a second connection reconnects with this session: the server closes the first one")
    t = Session(port, session_id=s.session_id, passwd=s.passwd, last_zxid=zxid)
    assert t.session_id == s.session_id
    s.expect_closed()
    s.close()
    t.call(GET_DATA, path_watch("/r/e"))
    t.call(CLOSE_SESSION)
    t.expect_closed()
    t.close()

    step("step: the closed session cannot be resumed: all-zero ConnectResponse, then close")
    u = Session(port, session_id=t.session_id, passwd=t.passwd)
    assert u.connect_response[4:16] == b"\x00" * 12, u.connect_response.hex()
    u.expect_closed()
    u.close()

    step("step: ConnectRequest without the readOnly byte: 36-byte ConnectResponse")
    v = Session(port, read_only=False)
    assert len(v.connect_response) == 36, len(v.connect_response)
    v.call(CLOSE_SESSION)
    v.expect_closed()
    v.close()

    step("step: lastZxidSeen ahead of the server: closed without a ConnectResponse")
    w = Session(port, last_zxid=0x7FFFFFFF)
    assert w.connect_response is None
    w.close()

    step("step: auth with an unknown scheme: -115, then the server closes")
    x = Session(port)
    x.call(AUTH, i32(0) + ustring("nosuchscheme") + buffer(b"x"), xid=-4, expect=-115)
    x.expect_closed()
    x.close()

    step("step: unknown opcode 50 -> -6 with zxid -1, then the server closes the connection")
    z = Session(port)
    z.call(50, b"", expect=-6)
    z.expect_closed()
    z.close()

    step("step: check (13) outside multi: a failing check gets a header-only error (and uses a zxid); "
         "a passing one is never answered (3.8.0 NullPointerException serialising a null stat), "
         "but the connection keeps working")
    y = Session(port)
    y.call(CREATE, create_body("/chk", b""))
    y.call(CHECK, ustring("/chk") + i32(7), expect=-103)
    y.call(CHECK, ustring("/nochk") + i32(0), expect=-101)
    y.call(CHECK, ustring("/chk") + i32(0), reply=False)
    if y.read_frame(timeout=2) is not None:
        raise AssertionError("a passing check outside multi got a reply")
    y.call(GET_DATA, path_watch("/chk"))
    y.call(CLOSE_SESSION)
    y.expect_closed()
    y.close()

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    def comments(server):
        return [
            "raw.txt: hand-encoded requests (tools/capture_raw.py) and the real server's replies",
            f"server: {server.describe()}",
            f"produced: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
            "requests are our own encoding; the replies are the reference bytes",
        ]

    capture(args.out, comments, lambda proxy: scenario(proxy.port, proxy.comment))
    return 0

if __name__ == "__main__":
    sys.exit(main())
