#!/usr/bin/env python3
"""Logging TCP proxy that records ZooKeeper client traffic as golden-fixture lines.

Usage as a program (loopback only):
    python3 tools/capture_proxy.py --upstream 127.0.0.1:2181 --out zk-proto/tests/fixtures/x.txt \
        [--listen 127.0.0.1:0] [--comment "free text"]...
    It prints "LISTENING 127.0.0.1:<port>" once ready. SIGUSR1 drops every open connection
    (both sides closed), SIGINT/SIGTERM stop it.

Usage as a library (what the tools/capture_*.py scenarios do):
    with CaptureProxy(("127.0.0.1", 2181), "out.txt", ["produced by ..."]) as proxy:
        connect the client to ("127.0.0.1", proxy.port) ...
        proxy.drop_connections()

Fixture format (one frame per line, in the order the proxy saw them; hex is the full frame
including its 4-byte big-endian length):
    # comment                          (free text: header, connection open/close notes)
    C->S connect <hex>                 first client frame of a connection (ConnectRequest)
    S->C connect <hex>                 first server frame of a connection (ConnectResponse)
    C->S request <opcode> <hex>        every later client frame; opcode = RequestHeader.type
    S->C reply <opcode> <hex>          a reply; opcode of the request with the same xid on this
                                       connection (ping xid -2 -> 11, auth xid -4 -> 100)
    S->C event 0 <hex>                 a watch notification (xid -1)
Each frame is logged before it is forwarded, so a reply's line always follows its request's.
Four-letter words are not supported (do not send them through this proxy).
"""

import argparse
import datetime
import signal
import socket
import struct
import sys
import threading

PING_XID = -2
AUTH_XID = -4
NOTIFICATION_XID = -1


class FixtureWriter:
    """Serialises fixture lines from all connection threads into one file."""

    def __init__(self, path, comments):
        self._lock = threading.Lock()
        self._file = open(path, "w", encoding="ascii")
        for c in comments:
            for line in str(c).splitlines() or [""]:
                self._file.write(f"# {line}".rstrip() + "\n")
        self._file.write(
            "# format: '<dir> connect <hex>' | 'C->S request <opcode> <hex>' | "
            "'S->C reply <opcode of request> <hex>' | 'S->C event 0 <hex>'; hex = whole frame incl. length\n"
        )
        self._file.write(
            f"# capture started {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}\n"
        )
        self._file.flush()
        self.counts = {}

    def line(self, text, key=None):
        with self._lock:
            if self._file.closed:
                return
            self._file.write(text + "\n")
            self._file.flush()
            if key is not None:
                self.counts[key] = self.counts.get(key, 0) + 1

    def comment(self, text):
        self.line(f"# {text}")

    def close(self):
        with self._lock:
            if not self._file.closed:
                self._file.close()


class Connection:
    """One proxied client connection: two pump threads and the xid -> opcode table."""

    def __init__(self, proxy, number, client, upstream):
        self.proxy = proxy
        self.number = number
        self.client = client
        self.upstream = upstream
        self.pending = {}  # xid -> opcode of requests not yet answered
        self.lock = threading.Lock()
        self.dropped = False
        self.done = 0

    def start(self):
        for direction in ("C->S", "S->C"):
            threading.Thread(target=self._pump, args=(direction,), daemon=True).start()

    def _pump(self, direction):
        src, dst = (self.client, self.upstream) if direction == "C->S" else (self.upstream, self.client)
        buf = b""
        first = True
        writer = self.proxy.writer
        while True:
            try:
                chunk = src.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 4:
                (length,) = struct.unpack(">i", buf[:4])
                if length < 0:
                    writer.comment(f"conn {self.number}: {direction} negative frame length {length}")
                    buf = b""
                    break
                if len(buf) < 4 + length:
                    break
                frame, buf = buf[: 4 + length], buf[4 + length :]
                self._log(direction, frame, first)
                first = False
            try:
                dst.sendall(chunk)
            except OSError:
                break
        if buf:
            writer.comment(f"conn {self.number}: {direction} trailing partial frame {buf.hex()}")
        with self.lock:
            self.done += 1
            last = self.done == 2
            if not last and not self.dropped:
                side = "client" if direction == "C->S" else "server"
                writer.comment(f"conn {self.number}: {side} closed its side")
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if last:
            for s in (self.client, self.upstream):
                try:
                    s.close()
                except OSError:
                    pass
            how = "dropped by the capture proxy" if self.dropped else "closed"
            writer.comment(f"conn {self.number}: {how}")
            self.proxy._forget(self)

    def _log(self, direction, frame, first):
        writer = self.proxy.writer
        hexed = frame.hex()
        if first:
            writer.line(f"{direction} connect {hexed}", (direction, "connect"))
            return
        payload = frame[4:]
        if direction == "C->S":
            if len(payload) < 8:
                writer.comment(f"conn {self.number}: short request frame {hexed}")
                return
            xid, opcode = struct.unpack(">ii", payload[:8])
            with self.lock:
                self.pending[xid] = opcode
            writer.line(f"C->S request {opcode} {hexed}", ("request", opcode))
            return
        if len(payload) < 4:
            writer.comment(f"conn {self.number}: short server frame {hexed}")
            return
        (xid,) = struct.unpack(">i", payload[:4])
        if xid == NOTIFICATION_XID:
            writer.line(f"S->C event 0 {hexed}", ("event", 0))
            return
        with self.lock:
            opcode = self.pending.pop(xid, None)
        if xid == PING_XID:
            opcode = 11
        elif xid == AUTH_XID:
            opcode = 100
        if opcode is None:
            writer.comment(f"conn {self.number}: reply to unknown xid {xid}: {hexed}")
            return
        writer.line(f"S->C reply {opcode} {hexed}", ("reply", opcode))

    def drop(self):
        self.dropped = True
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class CaptureProxy:
    """A threaded loopback proxy writing fixture lines; see the module docstring."""

    def __init__(self, upstream, out_path, comments=(), listen=("127.0.0.1", 0)):
        if not str(upstream[0]).startswith("127."):
            raise ValueError("the capture proxy only forwards to loopback addresses")
        self.upstream = upstream
        self.writer = FixtureWriter(out_path, comments)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(listen)
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._conns = {}
        self._lock = threading.Lock()
        self._next = 1
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError as e:
                self.writer.comment(f"upstream connect failed: {e}")
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                number = self._next
                self._next += 1
                conn = Connection(self, number, client, upstream)
                self._conns[number] = conn
            self.writer.comment(f"conn {number}: opened")
            conn.start()

    def _forget(self, conn):
        with self._lock:
            self._conns.pop(conn.number, None)

    def active(self):
        """Number of connections currently open."""
        with self._lock:
            return len(self._conns)

    def drop_connections(self):
        """Closes every open connection on both sides; returns how many there were."""
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            self.writer.comment(f"conn {c.number}: dropping")
            c.drop()
        return len(conns)

    def comment(self, text):
        """Adds a '# text' line (e.g. to label the next scenario step)."""
        self.writer.comment(text)

    def close(self):
        self._stopped = True
        try:
            self._listener.close()
        except OSError:
            pass
        self.drop_connections()

    def summary(self):
        """Counts of logged frames: {('request', op): n, ('reply', op): n, ('event', 0): n, ...}."""
        return dict(self.writer.counts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self.writer.close()


def _addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, type=_addr)
    ap.add_argument("--out", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0", type=_addr)
    ap.add_argument("--comment", action="append", default=[])
    args = ap.parse_args()
    stop = threading.Event()
    with CaptureProxy(args.upstream, args.out, args.comment, args.listen) as proxy:
        signal.signal(signal.SIGUSR1, lambda *_: proxy.drop_connections())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print(f"LISTENING 127.0.0.1:{proxy.port}", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
