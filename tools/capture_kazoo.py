#!/usr/bin/env python3
"""Record kazoo's traffic with a real ZooKeeper 3.8.0 as a golden fixture.

Usage: python3 tools/capture_kazoo.py [--out zk-proto/tests/fixtures/kazoo.txt]
Needs: Debian `zookeeper` (the server), `pip install kazoo`. Starts its own server on a free
loopback port (tools/zk_server.py) and talks to it through tools/capture_proxy.py.
The fixture format is described in tools/capture_proxy.py.
"""

import argparse
import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kazoo  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import KazooException, ZookeeperError  # noqa: E402
from kazoo.protocol.states import KazooState  # noqa: E402
from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_digest_acl  # noqa: E402

from capture_common import capture  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "zk-proto", "tests", "fixtures", "kazoo.txt")


def expect_error(what, fn, *args, **kwargs):
    """Runs a call that must fail with a ZooKeeper error; returns the exception class name."""
    try:
        fn(*args, **kwargs)
    except (ZookeeperError, KazooException) as e:
        print(f"  {what}: {type(e).__name__} (expected)")
        return type(e).__name__
    raise AssertionError(f"{what}: expected an error")


def scenario(zk, proxy, hosts):
    step = proxy.comment
    events = []
    fired = threading.Event()

    def watcher(event):
        events.append(event)
        fired.set()

    def wait_event(label):
        if not fired.wait(5):
            raise AssertionError(f"watch did not fire: {label}")
        fired.clear()
        print(f"  event: {events[-1]}")

    step("step: create in every mode kazoo supports (persistent, sequential, ephemeral, ephemeral sequential; create2 via include_data)")
    zk.create("/k", b"hello")
    zk.create("/k/seq-", b"s", sequence=True)
    zk.create("/k/seq-", b"s", sequence=True)
    zk.create("/k/eph", b"e", ephemeral=True)
    zk.create("/k/eseq-", b"", ephemeral=True, sequence=True)
    zk.create("/k/c2", b"with stat", include_data=True)
    zk.create("/k/nulldata", None)
    zk.create("/k/deep/a/b", b"x", makepath=True)

    step("step: get / set / exists, with a data watch that fires on set")
    zk.get("/k")
    zk.get("/k", watch=watcher)
    zk.set("/k", b"world")
    wait_event("NodeDataChanged /k")
    zk.exists("/k")
    zk.get("/k/nulldata")

    step("step: exists watch on a missing node, then create it (NodeCreated)")
    assert zk.exists("/k/later", watch=watcher) is None
    zk.create("/k/later", b"")
    wait_event("NodeCreated /k/later")

    step("step: get_children with and without stat, child watch fires")
    zk.get_children("/k")
    zk.get_children("/k", include_data=True)
    zk.get_children("/k", watch=watcher)
    zk.create("/k/newchild", b"")
    wait_event("NodeChildrenChanged /k")

    step("step: delete watch (NodeDeleted)")
    zk.exists("/k/newchild", watch=watcher)
    zk.delete("/k/newchild")
    wait_event("NodeDeleted /k/newchild")

    step("step: error replies: NoNode, NodeExists, BadVersion, NotEmpty, NoChildrenForEphemerals")
    expect_error("get missing", zk.get, "/k/missing")
    expect_error("create existing", zk.create, "/k", b"")
    expect_error("set bad version", zk.set, "/k", b"v", version=99)
    expect_error("delete bad version", zk.delete, "/k/later", version=42)
    expect_error("delete non-empty", zk.delete, "/k")
    expect_error("delete missing", zk.delete, "/k/missing")
    expect_error("child of ephemeral", zk.create, "/k/eph/child", b"")
    expect_error("children of missing", zk.get_children, "/k/missing")

    step("step: ACLs: get/set, digest auth, creator ACL, NoAuth from another session, InvalidACL")
    zk.get_acls("/k")
    _, stat = zk.get_acls("/k")
    zk.set_acls("/k", OPEN_ACL_UNSAFE, version=stat.aversion)
    expect_error("set_acls bad version", zk.set_acls, "/k", OPEN_ACL_UNSAFE, version=7)
    zk.add_auth("digest", "alice:secret")
    zk.create("/k/secure", b"secret", acl=[make_digest_acl("alice", "secret", all=True)])
    zk.create("/k/mine", b"creator", acl=CREATOR_ALL_ACL)
    zk.create("/k/readonly", b"ro", acl=READ_ACL_UNSAFE)
    zk.get("/k/secure")
    zk.get_acls("/k/secure")
    expect_error("set on read-only ACL", zk.set, "/k/readonly", b"no")

    other = KazooClient(hosts=hosts, timeout=10)
    other.start(timeout=15)
    expect_error("get without auth", other.get, "/k/secure")
    expect_error("get_acls without READ or ADMIN", other.get_acls, "/k/secure")
    expect_error("creator ACL without auth", other.create, "/k/noauth", b"", acl=CREATOR_ALL_ACL)
    other.set("/k", b"from other")
    other.stop()
    other.close()

    step("step: transactions (multi) that succeed and fail")
    _, stat = zk.get("/k")
    t = zk.transaction()
    t.create("/k/t1", b"1")
    t.create("/k/t2", b"2")
    t.set_data("/k/t1", b"one")
    t.check("/k", stat.version)
    t.delete("/k/t2")
    print("  multi ok:", t.commit())
    t = zk.transaction()
    t.create("/k/t3", b"3")
    t.check("/k/t1", 99)
    t.set_data("/k/t1", b"never")
    print("  multi failing:", t.commit())
    t = zk.transaction()
    t.delete("/k/missing")
    t.create("/k/t4", b"")
    print("  multi failing on first op:", t.commit())

    step("step: sync")
    zk.sync("/k")

    step("step: reconfig (disabled on this server: ReconfigDisabled -123)")
    expect_error("reconfig", zk.reconfig, joining=None, leaving="2", new_members=None)

    step("step: idle long enough for pings")
    time.sleep(4.5)

    step("step: the proxy drops the connection; kazoo reconnects with the same session (auth re-sent)")
    zk.get("/k", watch=watcher)
    connected_again = threading.Event()
    seen_states = []

    def listener(state):
        seen_states.append(state)
        if state == KazooState.CONNECTED and KazooState.SUSPENDED in seen_states:
            connected_again.set()

    zk.add_listener(listener)
    session_before = zk.client_id
    assert proxy.drop_connections() >= 1
    if not connected_again.wait(20):
        raise AssertionError(f"kazoo did not reconnect: {seen_states}")
    assert zk.client_id[0] == session_before[0], "session changed"
    zk.remove_listener(listener)
    zk.get("/k/secure")
    zk.get("/k/eph")  # the ephemeral survived: same session
    zk.get_children("/k")
    events.clear()
    fired.clear()

    step("step: a connect with an unknown session id gets the expired response; kazoo starts a new session")
    lost = threading.Event()

    def lost_listener(state):
        if state == KazooState.LOST:
            lost.set()

    stale = KazooClient(hosts=hosts, timeout=10, client_id=(0x01000000DEADBEEF, b"\x00" * 16))
    stale.add_listener(lost_listener)
    try:
        stale.start(timeout=15)
    except Exception as e:  # noqa: BLE001 - any outcome is fine, the bytes are what we want
        print(f"  stale start: {type(e).__name__}: {e}")
    lost.wait(5)
    if stale.connected:
        stale.exists("/k")
    stale.stop()
    stale.close()

    step("step: cleanup and close (closeSession)")
    zk.delete("/k/deep", recursive=True)
    zk.delete("/k/t1")
    zk.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    def comments(server):
        return [
            "kazoo.txt: kazoo's traffic with a real ZooKeeper server, recorded by tools/capture_kazoo.py",
            f"client: kazoo {kazoo.version.__version__} (Python {sys.version.split()[0]}), session timeout 10 s",
            f"server: {server.describe()}",
            f"produced: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
            "kazoo has no container/TTL/addWatch/removeWatches API, so those opcodes are not here (see zkcli.txt, raw.txt)",
        ]

    def run(proxy):
        hosts = f"127.0.0.1:{proxy.port}"
        zk = KazooClient(hosts=hosts, timeout=10)
        zk.start(timeout=15)
        try:
            scenario(zk, proxy, hosts)
        finally:
            zk.stop()
            zk.close()

    capture(args.out, comments, run)
    return 0

if __name__ == "__main__":
    sys.exit(main())
