"""kazoo peer of the `leader` example (kazoo flavour): a kazoo `Election`.

Usage: recipe_election_worker.py CONNECT PATH ID LEAD_MS
Prints LEADER/WORK/NOT_LEADER <id> <token> <unix_ns> like the Rust example (token = czxid of
the election node). Leads for LEAD_MS, returns from the election function (giving leadership
up), and runs the election again; runs until killed. WORK lines assert what kazoo believes.
"""
import sys
import time

from kazoo.client import KazooClient


def say(*fields):
    print(" ".join(str(f) for f in fields), flush=True)


def main():
    connect, path, ident, lead_ms = sys.argv[1:5]
    lead = int(lead_ms) / 1000.0
    zk = KazooClient(hosts=connect, timeout=4.0)
    zk.start(timeout=15)
    say("READY", ident, time.time_ns())
    while True:
        election = zk.Election(path, ident)

        def lead_once():
            lock = election.lock
            token = zk.exists(path + "/" + lock.node).czxid
            start = time.monotonic()
            say("LEADER", ident, token, time.time_ns())
            while True:
                at = time.time_ns()
                if not lock.is_acquired:
                    say("NOT_LEADER", ident, token, time.time_ns(), "kazoo")
                    return
                if time.monotonic() - start >= lead:
                    # Printed after run() returns and the lock is released.
                    lead_once.token = token
                    return
                say("WORK", ident, token, at)
                time.sleep(0.01)

        lead_once.token = None
        election.run(lead_once)
        if lead_once.token is not None:
            say("NOT_LEADER", ident, lead_once.token, time.time_ns(), "released")


if __name__ == "__main__":
    main()
