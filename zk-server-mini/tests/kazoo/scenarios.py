#!/usr/bin/env python3
"""Kazoo scenarios against a ZooKeeper-compatible server.

usage: scenarios.py HOST:PORT [scenario ...]

Prints one `PASS <name>` or `FAIL <name>: <reason>` line per scenario and exits 1 if any failed.
The server needs `4lw.commands.whitelist=*` for `four_letter_words` and a short tickTime for
`sessions` to run quickly (the Rust test that runs this script sets both).
"""
import socket
import struct
import sys
import threading
import time
import traceback
import uuid

from kazoo.client import KazooClient
from kazoo.exceptions import (BadVersionError, NoAuthError, NodeExistsError, NoNodeError,
                              NoChildrenForEphemeralsError, NotEmptyError, RolledBackError,
                              BadArgumentsError)
from kazoo.security import make_digest_acl, make_acl, OPEN_ACL_UNSAFE

HOSTS = sys.argv[1]
ROOT = "/kz-" + uuid.uuid4().hex[:8]


def client(**kw):
    zk = KazooClient(hosts=HOSTS, timeout=kw.pop("timeout", 10), **kw)
    zk.start(timeout=10)
    return zk


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def expect(exc, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except exc:
        return
    raise AssertionError("expected %s" % exc.__name__)


def crud(zk):
    p = ROOT + "/crud"
    assert zk.create(p, b"v1") == p
    data, stat = zk.get(p)
    assert data == b"v1" and stat.version == 0 and stat.dataLength == 2
    assert stat.czxid == stat.mzxid == stat.pzxid
    stat2 = zk.set(p, b"v2")
    assert stat2.version == 1 and stat2.mzxid > stat.mzxid
    expect(BadVersionError, zk.set, p, b"x", version=7)
    expect(NodeExistsError, zk.create, p, b"")
    expect(NoNodeError, zk.get, p + "/missing")
    expect(NoNodeError, zk.create, ROOT + "/no/parent", b"")
    assert zk.exists(p + "/missing") is None
    zk.create(p + "/child", b"")
    expect(NotEmptyError, zk.delete, p)
    expect(BadVersionError, zk.delete, p + "/child", version=5)
    zk.delete(p + "/child", version=0)
    zk.delete(p)
    assert zk.exists(p) is None
    # Null data and empty data differ on the wire; kazoo reads both as b"".
    zk.create(p + "-empty", b"")
    assert zk.get(p + "-empty")[0] == b""
    expect(BadArgumentsError, zk.delete, "/zookeeper")
    assert "quota" in zk.get_children("/zookeeper")


def watches(zk):
    p = ROOT + "/w"
    zk.create(p, b"0")
    events = []
    cv = threading.Event()

    def w(e):
        events.append((e.type, e.path))
        cv.set()

    zk.get(p, watch=w)
    zk.set(p, b"1")
    cv.wait(5)
    assert events == [("CHANGED", p)], events
    # One-shot: a second change does not fire it again.
    zk.set(p, b"2")
    time.sleep(0.3)
    assert len(events) == 1
    # Child watch.
    events.clear(); cv.clear()
    zk.get_children(p, watch=w)
    zk.create(p + "/c", b"")
    cv.wait(5)
    assert events == [("CHILD", p)], events
    # Exists watch on a missing node fires on create.
    events.clear(); cv.clear()
    assert zk.exists(p + "/later", watch=w) is None
    zk.create(p + "/later", b"")
    cv.wait(5)
    assert events == [("CREATED", p + "/later")], events
    # Delete fires data and child watches once per connection.
    events.clear(); cv.clear()
    zk.get(p + "/later", watch=w)
    zk.get_children(p + "/later", watch=w)
    zk.delete(p + "/later")
    time.sleep(0.3)
    assert events.count(("DELETED", p + "/later")) >= 1, events
    # Another client's change, seen through DataWatch and ChildrenWatch recipes.
    other = client()
    try:
        seen = []
        kids = []
        zk.DataWatch(p, lambda data, stat: seen.append(data))
        zk.ChildrenWatch(p, lambda c: kids.append(sorted(c)))
        other.set(p, b"from-other")
        other.create(p + "/d", b"")
        wait_for(lambda: b"from-other" in seen, what="DataWatch")
        wait_for(lambda: kids and kids[-1] == ["c", "d"], what="ChildrenWatch")
    finally:
        other.stop(); other.close()


def ephemerals(zk):
    p = ROOT + "/eph"
    zk.create(p, b"")
    other = client()
    other.create(p + "/mine", b"", ephemeral=True)
    st = zk.exists(p + "/mine")
    assert st.ephemeralOwner == other.client_id[0], (st.ephemeralOwner, other.client_id)
    expect(NoChildrenForEphemeralsError, other.create, p + "/mine/kid", b"")
    gone = threading.Event()
    zk.exists(p + "/mine", watch=lambda e: e.type == "DELETED" and gone.set())
    other.stop(); other.close()
    assert gone.wait(5), "ephemeral not deleted when its session closed"
    assert zk.exists(p + "/mine") is None


def sequential(zk):
    p = ROOT + "/seq"
    zk.create(p, b"")
    zk.create(p + "/x", b"")
    zk.create(p + "/y", b"")
    zk.delete(p + "/x")
    assert zk.exists(p).cversion == 3
    # The suffix is the stored create counter (2), not cversion (3).
    assert zk.create(p + "/q", b"", sequence=True) == p + "/q0000000002"
    e = zk.create(p + "/e-", b"", sequence=True, ephemeral=True)
    assert e == p + "/e-0000000003", e
    assert zk.create(p + "/", b"", sequence=True) == p + "/0000000004"


def transactions(zk):
    p = ROOT + "/txn"
    zk.create(p, b"")
    t = zk.transaction()
    t.create(p + "/a", b"1")
    t.create(p + "/b", b"2")
    t.set_data(p + "/a", b"3")
    t.check(p + "/a", 1)
    t.delete(p + "/b")
    res = t.commit()
    assert res[0] == p + "/a" and res[1] == p + "/b" and res[4] is True, res
    assert res[2].version == 1
    assert zk.get(p + "/a")[0] == b"3" and zk.exists(p + "/b") is None
    t = zk.transaction()
    t.create(p + "/c", b"")
    t.check(p + "/a", 99)
    t.set_data(p + "/a", b"nope")
    res = t.commit()
    assert isinstance(res[0], RolledBackError) and isinstance(res[1], BadVersionError), res
    assert zk.exists(p + "/c") is None and zk.get(p + "/a")[0] == b"3"


def acls(zk):
    p = ROOT + "/acl"
    alice = client(auth_data=[("digest", "alice:secret")])
    try:
        acl = [make_digest_acl("alice", "secret", all=True)]
        alice.create(p, b"private", acl=acl)
        expect(NoAuthError, zk.get, p)
        expect(NoAuthError, zk.set, p, b"x")
        expect(NoAuthError, zk.create, p + "/kid", b"")
        assert alice.get(p)[0] == b"private"
        got, _ = alice.get_acls(p)
        assert got[0].id.id == "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", got
        # `auth` expands to the caller's digest identities.
        alice.create(p + "-creator", b"", acl=[make_acl("auth", "", all=True)])
        got, _ = alice.get_acls(p + "-creator")
        assert got[0].id.scheme == "digest" and got[0].id.id.startswith("alice:"), got
        # exists needs no permission in 3.8.0.
        assert zk.exists(p) is not None
    finally:
        alice.stop(); alice.close()


def lock(zk):
    from kazoo.recipe.lock import Lock
    path = ROOT + "/lock"
    others = [client() for _ in range(3)]
    counter = {"in": 0, "max": 0, "done": 0}
    guard = threading.Lock()

    def work(c, ident):
        lk = c.Lock(path, ident)
        for _ in range(3):
            with lk:
                with guard:
                    counter["in"] += 1
                    counter["max"] = max(counter["max"], counter["in"])
                time.sleep(0.02)
                with guard:
                    counter["in"] -= 1
        with guard:
            counter["done"] += 1

    threads = [threading.Thread(target=work, args=(c, "w%d" % i)) for i, c in enumerate(others)]
    for t in threads: t.start()
    for t in threads: t.join(30)
    for c in others:
        c.stop(); c.close()
    assert counter["done"] == 3 and counter["max"] == 1, counter
    assert isinstance(Lock(zk, path), Lock)


def election(zk):
    path = ROOT + "/election"
    a, b = client(), client()
    leaders = []
    stop_a = threading.Event()

    def lead_a():
        leaders.append("a")
        stop_a.wait(10)

    ea = a.Election(path, "a")
    eb = b.Election(path, "b")
    ta = threading.Thread(target=ea.run, args=(lead_a,))
    ta.start()
    wait_for(lambda: leaders == ["a"], what="a leads")
    tb = threading.Thread(target=eb.run, args=(lambda: leaders.append("b"),))
    tb.start()
    time.sleep(0.3)
    assert leaders == ["a"], leaders
    assert sorted(ea.contenders()) == ["a", "b"], ea.contenders()
    stop_a.set()
    ta.join(10)
    wait_for(lambda: leaders == ["a", "b"], what="b leads after a")
    tb.join(10)
    a.stop(); a.close(); b.stop(); b.close()


def counter(zk):
    path = ROOT + "/counter"
    clients = [client() for _ in range(3)]

    def bump(c):
        cnt = c.Counter(path)
        for _ in range(10):
            cnt += 1

    ts = [threading.Thread(target=bump, args=(c,)) for c in clients]
    for t in ts: t.start()
    for t in ts: t.join(30)
    assert zk.Counter(path).value == 30, zk.Counter(path).value
    for c in clients:
        c.stop(); c.close()


def barrier(zk):
    path = ROOT + "/barrier"
    b = zk.Barrier(path)
    b.create()
    passed = []
    other = client()
    t = threading.Thread(target=lambda: passed.append(other.Barrier(path).wait(10)))
    t.start()
    time.sleep(0.3)
    assert passed == []
    b.remove()
    t.join(10)
    assert passed == [True], passed
    other.stop(); other.close()
    # DoubleBarrier with two members.
    dpath = ROOT + "/dbarrier"
    c1, c2 = client(), client()
    order = []

    def member(c, name):
        db = c.DoubleBarrier(dpath, 2, identifier=name)
        db.enter()
        order.append("in-" + name)
        db.leave()
        order.append("out-" + name)

    ts = [threading.Thread(target=member, args=(c, n)) for c, n in ((c1, "x"), (c2, "y"))]
    for t in ts: t.start()
    for t in ts: t.join(20)
    assert sorted(order[:2]) == ["in-x", "in-y"] and len(order) == 4, order
    c1.stop(); c1.close(); c2.stop(); c2.close()


def queue(zk):
    q = zk.Queue(ROOT + "/queue")
    for i in range(5):
        q.put(("item%d" % i).encode())
    q.put(b"urgent", priority=10)
    assert len(q) == 6
    got = [q.get() for _ in range(6)]
    # Lower priority values come first.
    assert got == [b"urgent", b"item0", b"item1", b"item2", b"item3", b"item4"], got
    assert q.get() is None
    lq = zk.LockingQueue(ROOT + "/lqueue")
    lq.put(b"job")
    assert lq.get(5) == b"job"
    assert lq.consume()


def tree_cache(zk):
    from kazoo.recipe.cache import TreeCache, TreeEvent
    path = ROOT + "/tc"
    zk.create(path + "/a/b", b"ab", makepath=True)
    cache = TreeCache(zk, path)
    events = []
    cache.listen(lambda e: events.append(e))
    cache.start()
    wait_for(lambda: any(e.event_type == TreeEvent.INITIALIZED for e in events), what="initialized")
    assert cache.get_data(path + "/a/b").data == b"ab"
    other = client()
    other.create(path + "/a/c", b"ac")
    wait_for(lambda: cache.get_data(path + "/a/c") is not None, what="add")
    other.set(path + "/a/b", b"changed")
    other.delete(path + "/a/c")
    wait_for(lambda: cache.get_data(path + "/a/b") is not None
             and cache.get_data(path + "/a/b").data == b"changed", what="update")
    wait_for(lambda: cache.get_data(path + "/a/c") is None
             and any(e.event_type == TreeEvent.NODE_REMOVED for e in events), what="removal")
    cache.close()
    other.stop(); other.close()


def semaphore_and_party(zk):
    sem = zk.Semaphore(ROOT + "/sem", max_leases=2)
    assert sem.acquire(timeout=5)
    sem.release()
    party = zk.Party(ROOT + "/party", "me")
    party.join()
    assert list(party) == ["me"] and len(party) == 1
    party.leave()


def raw_connect(timeout_ms, session_id=0, passwd=b"\0" * 16, last_zxid=0):
    host, port = HOSTS.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    body = struct.pack(">iqiqi", 0, last_zxid, timeout_ms, session_id, 16) + passwd + b"\0"
    s.sendall(struct.pack(">i", len(body)) + body)
    hdr = recv_exact(s, 4)
    (n,) = struct.unpack(">i", hdr)
    resp = recv_exact(s, n)
    _, to, sid, plen = struct.unpack(">iiqi", resp[:20])
    return s, to, sid, resp[20:20 + plen]


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += d
    return out


def sessions(zk):
    # Expiry: a raw session with the minimum timeout that never pings. Its ephemeral must go.
    s, to, sid, pw = raw_connect(1)
    assert to > 0 and sid != 0
    p = ROOT + "/expiring"
    path = p.encode()
    body = struct.pack(">ii", 1, 1) + struct.pack(">i", len(path)) + path + struct.pack(">i", -1)
    body += struct.pack(">i", 1) + struct.pack(">i", 31) + struct.pack(">i", 5) + b"world" + struct.pack(">i", 6) + b"anyone"
    body += struct.pack(">i", 1)  # EPHEMERAL
    s.sendall(struct.pack(">i", len(body)) + body)
    (n,) = struct.unpack(">i", recv_exact(s, 4))
    xid, zxid, err = struct.unpack(">iqi", recv_exact(s, n)[:16])
    assert xid == 1 and err == 0, (xid, err)
    st = zk.exists(p)
    assert st is not None and st.ephemeralOwner == sid
    gone = threading.Event()
    zk.exists(p, watch=lambda e: gone.set())
    assert gone.wait(to / 1000.0 * 3 + 5), "session did not expire"
    assert zk.exists(p) is None
    # The server closed the socket silently.
    s.settimeout(5)
    assert s.recv(100) == b""
    s.close()
    # Reconnecting to the expired session gets the all-zero response.
    s2, to2, sid2, _ = raw_connect(10000, session_id=sid, passwd=pw)
    assert (to2, sid2) == (0, 0), (to2, sid2)
    s2.close()
    # A wrong password is refused the same way and kicks nothing else.
    live, to3, sid3, pw3 = raw_connect(10000)
    bad, to4, sid4, _ = raw_connect(10000, session_id=sid3, passwd=b"x" * 16)
    assert (to4, sid4) == (0, 0)
    bad.close(); live.close()
    # A client that has seen the future is refused without a reply.
    host, port = HOSTS.split(":")
    s5 = socket.create_connection((host, int(port)), timeout=10)
    body = struct.pack(">iqiqi", 0, 1 << 60, 10000, 0, 16) + b"\0" * 16 + b"\0"
    s5.sendall(struct.pack(">i", len(body)) + body)
    assert s5.recv(100) == b""
    s5.close()
    # Kazoo survives a session expiry and reconnects with a new session.
    states = []
    c = client(timeout=4)
    c.add_listener(lambda st: states.append(st))
    old = c.client_id
    # Take the session over and close it: kazoo's reconnect then finds it expired.
    raw, _, _, _ = raw_connect(4000, session_id=old[0], passwd=old[1])
    close = struct.pack(">ii", 7, -11)
    raw.sendall(struct.pack(">i", len(close)) + close)
    (n,) = struct.unpack(">i", recv_exact(raw, 4))
    xid, _, err = struct.unpack(">iqi", recv_exact(raw, n)[:16])
    assert (xid, err) == (7, 0)
    raw.close()
    wait_for(lambda: c.connected and c.client_id[0] != old[0], timeout=20, what="kazoo new session")
    assert "LOST" in states, states
    c.stop(); c.close()


def reconnect_keeps_session(zk):
    # Another connection takes the session over: the server closes kazoo's connection, kazoo
    # reconnects with the same session id and password, and its ephemeral survives.
    c = client(timeout=10)
    states = []
    c.add_listener(lambda st: states.append(st))
    p = ROOT + "/reconnect-eph"
    c.create(p, b"", ephemeral=True)
    seen = []
    c.DataWatch(p, lambda data, stat: seen.append(stat.version if stat else None))
    old = c.client_id
    raw, to, sid, _ = raw_connect(10000, session_id=old[0], passwd=old[1])
    assert sid == old[0]
    wait_for(lambda: "SUSPENDED" in states, what="kazoo suspended")
    wait_for(lambda: c.connected, timeout=20, what="kazoo reconnected")
    assert c.client_id[0] == old[0], "kazoo lost its session"
    assert states.count("LOST") == 0, states
    assert zk.exists(p).ephemeralOwner == old[0]
    # kazoo re-arms its recipe watches itself after a reconnect.
    zk.set(p, b"after")
    wait_for(lambda: seen and seen[-1] == 1, what="DataWatch after reconnect")
    raw.close()
    c.stop(); c.close()
    wait_for(lambda: zk.exists(p) is None, what="ephemeral gone after close")


def four_letter_words(zk):
    assert zk.command(b"ruok") == "imok"
    srvr = zk.command(b"srvr")
    assert "Mode: standalone" in srvr and "Zxid: 0x" in srvr, srvr
    mntr = zk.command(b"mntr")
    assert "zk_znode_count\t" in mntr
    assert "Environment:" in zk.command(b"envi")
    assert zk.command(b"isro") == "rw"
    assert "connections watching" in zk.command(b"wchs")
    assert "clientPort=" in zk.command(b"conf")
    assert zk.server_version()[0] == 3


SCENARIOS = [crud, watches, ephemerals, sequential, transactions, acls, lock, election, counter,
             barrier, queue, tree_cache, semaphore_and_party, sessions, reconnect_keeps_session,
             four_letter_words]


def main():
    wanted = set(sys.argv[2:])
    zk = client()
    zk.ensure_path(ROOT)
    failed = 0
    for scenario in SCENARIOS:
        if wanted and scenario.__name__ not in wanted:
            continue
        start = time.time()
        try:
            scenario(zk)
            print("PASS %s (%.2fs)" % (scenario.__name__, time.time() - start), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("FAIL %s: %r" % (scenario.__name__, e), flush=True)
            traceback.print_exc()
    zk.stop(); zk.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
