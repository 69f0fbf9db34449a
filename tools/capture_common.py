"""What tools/capture_zkcli.py and tools/capture_cli_mt.py share: a command-line client driven
through stdin, its traffic recorded by tools/capture_proxy.py against tools/zk_server.py.
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from capture_proxy import CaptureProxy  # noqa: E402
from zk_server import ZkServer  # noqa: E402


def parse_args(doc, default_out, default_transcript):
    """`--out` (the fixture) and `--transcript` (the client's output, with the commands sent)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--transcript", default=default_transcript)
    return ap.parse_args()


@contextlib.contextmanager
def piped_cli(argv):
    """Starts `argv` with a pipe for stdin and its output collected into the transcript list it
    yields with the process; on leaving, closes stdin and waits for it (killing it if it is still
    running)."""
    cli = subprocess.Popen(
        argv,
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
        yield cli, transcript
        cli.stdin.close()
        cli.wait(timeout=20)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
    t.join(timeout=5)


def send(cli, transcript, cmd):
    """Types `cmd` into the client, and notes it in the transcript."""
    transcript.append(f"### {cmd}\n")
    cli.stdin.write(cmd + "\n")
    cli.stdin.flush()


def capture(out, comments, run):
    """Starts a server (TTL nodes on) and the recording proxy in front of it, whose fixture `out`
    opens with `comments(server)`; runs `run(proxy)`, waits for the last replies, ends the fixture
    and prints the proxy's summary. Returns what `run` returned."""
    with ZkServer(extended_types=True) as server:
        with CaptureProxy(server.addr, out, comments(server)) as proxy:
            result = run(proxy)
            time.sleep(0.5)
            proxy.comment("end of capture")
            summary = proxy.summary()
    for k in sorted(summary, key=str):
        print(f"{k}: {summary[k]}")
    return result


def run_capture(args, comments, argv, drive):
    """`capture` with a piped CLI: runs the client `argv(proxy.port)` and
    `drive(cli, proxy, transcript)`, then writes the transcript. Returns the exit status."""

    def run(proxy):
        with piped_cli(argv(proxy.port)) as (cli, transcript):
            drive(cli, proxy, transcript)
        return transcript

    transcript = capture(args.out, comments, run)
    with open(args.transcript, "w") as f:
        f.writelines(transcript)
    print(f"transcript: {args.transcript}")
    return 0
