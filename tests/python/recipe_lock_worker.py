"""kazoo peer of the `lock` example (kazoo flavour).

Usage: recipe_lock_worker.py CONNECT PATH ID HOLD_MS ROUNDS
Prints the same lines as the Rust example: ACQUIRED/WORK/RELEASED <id> <token> <unix_ns>, with
token = czxid of the lock node. WORK lines assert what kazoo believes (lock.is_acquired).
"""
import sys
import time

from kazoo.client import KazooClient


def say(*fields):
    print(" ".join(str(f) for f in fields), flush=True)


def main():
    connect, path, ident, hold_ms, rounds = sys.argv[1:6]
    hold = int(hold_ms) / 1000.0
    zk = KazooClient(hosts=connect, timeout=4.0)
    zk.start(timeout=15)
    lock = zk.Lock(path, ident)
    say("READY", ident, time.time_ns())
    for _ in range(int(rounds)):
        lock.acquire()
        token = zk.exists(path + "/" + lock.node).czxid
        start = time.monotonic()
        say("ACQUIRED", ident, token, time.time_ns())
        while True:
            at = time.time_ns()
            if not lock.is_acquired:
                say("LOST", ident, token, time.time_ns(), "kazoo")
                break
            if time.monotonic() - start >= hold:
                lock.release()
                say("RELEASED", ident, token, time.time_ns())
                break
            say("WORK", ident, token, at)
            time.sleep(0.01)
    say("DONE", ident, time.time_ns())
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
