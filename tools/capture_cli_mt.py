#!/usr/bin/env python3
"""Record the C client's (cli_mt from Debian zookeeper-bin, libzookeeper-mt 3.8.0) traffic.

Usage: python3 tools/capture_cli_mt.py [--out zk-proto/tests/fixtures/cli_mt.txt] [--transcript FILE]
Needs: Debian `zookeeper` (server) and `zookeeper-bin` (/usr/lib/zookeeper/bin/cli_mt, not on
PATH). Starts its own server (tools/zk_server.py) and drives cli_mt through stdin via
tools/capture_proxy.py. cli_mt's `get`/`ls` set watches; the proxy drops the connection while
watches are set, so the C client re-registers them with SetWatches (op 101, xid -8).
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capture_proxy import CaptureProxy  # noqa: E402
from zk_server import ZkServer, package_version  # noqa: E402

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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--transcript", default="/tmp/cli_mt-transcript.txt")
    args = ap.parse_args()
    with ZkServer(extended_types=True) as server:
        comments = [
            "cli_mt.txt: the C client's traffic with a real ZooKeeper server, recorded by tools/capture_cli_mt.py",
            f"client: {CLI_MT} (Debian zookeeper-bin {package_version()}, libzookeeper-mt 3.8.0), session timeout 30 s",
            f"server: {server.describe()}",
            f"produced: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
            "the C client starts xids at the current Unix time; it sends SetWatches with xid -8",
        ]
        with CaptureProxy(server.addr, args.out, comments) as proxy:
            cli = subprocess.Popen(
                [CLI_MT, f"127.0.0.1:{proxy.port}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            transcript = []

            def reader():
                for line in cli.stdout:
                    transcript.append(line)

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            try:
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
                        transcript.append(f"### {cmd}\n")
                        cli.stdin.write(cmd + "\n")
                        cli.stdin.flush()
                        time.sleep(0.3)
                cli.stdin.close()
                cli.wait(timeout=20)
            finally:
                if cli.poll() is None:
                    os.killpg(cli.pid, signal.SIGKILL)
                    cli.wait()
            t.join(timeout=5)
            time.sleep(0.5)
            proxy.comment("end of capture")
            summary = proxy.summary()
    with open(args.transcript, "w") as f:
        f.writelines(transcript)
    for k in sorted(summary, key=str):
        print(f"{k}: {summary[k]}")
    print(f"transcript: {args.transcript}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
