#!/usr/bin/env python3
"""Record the C client's (cli_mt from Debian zookeeper-bin, libzookeeper-mt 3.8.0) traffic.

Usage: python3 tools/capture_cli_mt.py [--out zk-proto/tests/fixtures/cli_mt.txt] [--transcript FILE]
Needs: Debian `zookeeper` (server) and `zookeeper-bin` (/usr/lib/zookeeper/bin/cli_mt, not on
PATH). Starts its own server (tools/zk_server.py) and drives cli_mt through stdin via
tools/capture_proxy.py. cli_mt's `get`/`ls` set watches; the proxy drops the connection while
watches are set, so the C client re-registers them with SetWatches (op 101, xid -8).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capture_common import parse_args, run_capture, send  # noqa: E402
from zk_server import package_version  # noqa: E402

CLI_MT = os.environ.get("CLI_MT", "/usr/lib/zookeeper/bin/cli_mt")
DEFAULT_OUT = os.path.join(os.path.dirname(__file__), "..", "zk-proto", "tests", "fixtures", "cli_mt.txt")

DROP = object()
IDLE = object()


def commands():
    # cli_mt creates every node with the data "new"; `get` and `ls` set watches.
    return [
        ("create in every mode cli_mt offers (create = op 1, create2 = op 15)", [
            "create /m",
            "create +e /m/e",
            "create +s /m/s",
            "create +es /m/es",
            "create +c /m/c",
            "create +t=60000 /m/t",
            "create2 /m/c2",
            "create2 +s /m/c2s",
        ]),
        ("reads with watches, writes that fire them", [
            "get /m",
            "set /m changed",
            "ls /m",
            "ls2 /m",
            "create /m/x",
            "exists /m",
            "exists /m/none",
            "wexists /m/later",
            "create /m/later",
            "sync /m",
        ]),
        ("auth, config, reconfig", [
            "addauth digest alice:secret",
            "config",
            "reconfig -remove 2",
        ]),
        ("error replies", [
            "delete /m",
            "delete /nothere",
            "create /m",
            "get /nothere",
        ]),
        ("watches set, then the proxy drops the connection: SetWatches (101, xid -8) on reconnect", [
            "get /m/x",
            "ls /m/c",
            "wexists /m/gone",
            DROP,
            "set /m/x again",
            "create /m/c/kid",
        ]),
        ("idle past recv_timeout/3 (30 s session: ping after 10 s)", [
            IDLE,
        ]),
        ("cleanup, quit (closeSession)", [
            "delete /m/x",
            "delete /m/later",
            "quit",
        ]),
    ]


def main():
    args = parse_args(__doc__, DEFAULT_OUT, "/tmp/cli_mt-transcript.txt")

    def comments(server):
        return [
            "cli_mt.txt: the C client's traffic with a real ZooKeeper server, recorded by tools/capture_cli_mt.py",
            f"client: {CLI_MT} (Debian zookeeper-bin {package_version()}, libzookeeper-mt 3.8.0), session timeout 30 s",
            f"server: {server.describe()}",
            f"produced: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
            "the C client starts xids at the current Unix time; it sends SetWatches with xid -8",
        ]

    def drive(cli, proxy, transcript):
        time.sleep(1.0)
        for label, cmds in commands():
            proxy.comment(f"step: {label}")
            for cmd in cmds:
                if cmd is DROP:
                    time.sleep(0.5)
                    n = proxy.drop_connections()
                    transcript.append(f"### proxy dropped {n} connection(s)\n")
                    time.sleep(3.0)
                    continue
                if cmd is IDLE:
                    time.sleep(11.0)
                    continue
                send(cli, transcript, cmd)
                time.sleep(0.3)

    return run_capture(args, comments, lambda port: [CLI_MT, f"127.0.0.1:{port}"], drive)


if __name__ == "__main__":
    sys.exit(main())
