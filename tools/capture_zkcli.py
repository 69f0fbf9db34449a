#!/usr/bin/env python3
"""Record the Java CLI's (zkCli.sh, ZooKeeper 3.8.0 Java client) traffic as a golden fixture.

Usage: python3 tools/capture_zkcli.py [--out zk-proto/tests/fixtures/zkcli.txt] [--transcript FILE]
Needs: Debian `zookeeper` (server and /usr/share/zookeeper/bin/zkCli.sh). Starts its own server
(tools/zk_server.py) and drives zkCli.sh through stdin (JLine is disabled in the Debian build, so
piped commands work) via tools/capture_proxy.py. The proxy drops the connection twice while watches
are set, so the client re-registers them: SetWatches (101) with one-shot watches only, SetWatches2
(105) once persistent watches exist.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capture_common import parse_args, run_capture, send  # noqa: E402
from zk_server import package_version  # noqa: E402

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "zk-proto", "tests", "fixtures", "zkcli.txt")

DROP = object()  # marker: drop the connection through the proxy and wait for the reconnect


def commands(port):
    return [
        ("create in every mode", [
            'create /c "cdata"',
            'create -e /c/eph "e"',
            'create -s /c/seq- "s"',
            'create -s -e /c/eseq- ""',
            'create -c /c/cont ""',
            'create /c/cont/child ""',
            'create -t 60000 /c/ttl "t"',
            'create -s -t 60000 /c/ttlseq- ""',
            'create /c/acl "a" world:anyone:r',
        ]),
        ("get, set (a data watch fires), stat", [
            "get /c",
            "get -s /c",
            "get -w /c",
            'set /c "changed"',
            'set -v 99 /c "bad"',
            'set -s /c "again"',
            "stat /c",
            "stat /c/missing",
            "stat -w /c/missing",
            'create /c/missing ""',
        ]),
        ("ls variants (child watch fires)", [
            "ls /c",
            "ls -s /c",
            "ls -w /c",
            'create /c/new ""',
            "ls -R /c",
        ]),
        ("ACLs and auth", [
            "getAcl /c",
            "getAcl -s /c",
            "setAcl /c world:anyone:cdrwa",
            "setAcl -v 99 /c world:anyone:cdrwa",
            'set /c/acl "no"',
            "addauth digest alice:secret",
            'create /c/sec "s" auth::cdrwa',
            "getAcl /c/sec",
            "setAcl -s /c/sec digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa,world:anyone:r",
            "get /c/sec",
            "whoami",
        ]),
        ("3.6+ reads: getEphemerals, getAllChildrenNumber, config, sync", [
            "getEphemerals",
            "getEphemerals /c",
            "getAllChildrenNumber /c",
            "getAllChildrenNumber /",
            "config",
            "sync /c",
        ]),
        ("quota nodes", [
            "setquota -n 10 /c",
            "listquota /c",
            "delquota /c",
        ]),
        ("error replies", [
            'create /c "dup"',
            "delete /c/nothere",
            "delete /c",
            "delete -v 99 /c/new",
            "get /nothere",
            "reconfig -remove 2",
        ]),
        ("one-shot watches, then a dropped connection: the client re-registers with SetWatches (101)", [
            "get -w /c/new",
            "ls -w /c/cont",
            "stat -w /c/none",
            DROP,
            'create /c/cont/child2 ""',
            'set /c/new "x"',
        ]),
        ("persistent watches, then a dropped connection: SetWatches2 (105)", [
            "addWatch /c",
            "addWatch -m PERSISTENT /c/cont",
            "get -w /c/eph",
            "ls -w /c/new",
            DROP,
            'set /c "after reconnect"',
            'create /c/cont/child3 ""',
            "delete /c/cont/child3",
        ]),
        ("removewatches", [
            "removewatches /c",
            "removewatches /c/cont -a",
            "removewatches /c/eph -d",
            "removewatches /c/new -c",
            "removewatches /c/none -c",
        ]),
        ("deleteall, close (closeSession), connect again (new session), quit", [
            "delete /c/new",
            "deleteall /c",
            "close",
            f"connect 127.0.0.1:{port}",
            "ls /",
            "quit",
        ]),
    ]


def main():
    args = parse_args(__doc__, DEFAULT_OUT, "/tmp/zkcli-transcript.txt")

    def comments(server):
        return [
            "zkcli.txt: the Java CLI's traffic with a real ZooKeeper server, recorded by tools/capture_zkcli.py",
            f"client: {ZKCLI} (ZooKeeper 3.8.0 Java client, Debian package zookeeper {package_version()}), -timeout 9000",
            f"server: {server.describe()}",
            f"produced: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
            "the proxy drops the connection twice (see 'dropping'): the reconnects carry SetWatches (101) and SetWatches2 (105)",
        ]

    def drive(cli, proxy, transcript):
        time.sleep(2.0)  # JVM start and session establishment
        for label, cmds in commands(proxy.port):
            proxy.comment(f"step: {label}")
            for cmd in cmds:
                if cmd is DROP:
                    time.sleep(0.5)
                    before = proxy.active()
                    proxy.drop_connections()
                    transcript.append(f"### proxy dropped {before} connection(s)\n")
                    time.sleep(3.0)  # the Java client waits up to 1 s, then reconnects
                    continue
                send(cli, transcript, cmd)
                time.sleep(0.6 if cmd.split()[0] in ("close", "connect") else 0.35)
            if label.startswith("ACLs"):
                proxy.comment("step: idle for pings (session timeout 9 s: ping after 3 s idle)")
                time.sleep(3.5)

    return run_capture(args, comments, lambda port: [ZKCLI, "-timeout", "9000", "-server", f"127.0.0.1:{port}"], drive)


if __name__ == "__main__":
    sys.exit(main())
