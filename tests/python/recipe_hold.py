"""kazoo peer for the semaphore / read-write lock interop tests (same protocol as
tests/java/RecipeHold.java).

Usage: recipe_hold.py CONNECT KIND PATH ARG
  sem-hold N:  N kazoo Semaphore(PATH, max_leases=N) instances each take a lease; HELD; waits for
               a line on stdin; releases; RELEASED
  sem-try N:   Semaphore(PATH, max_leases=N).acquire(timeout=0.3): GOT or BLOCKED
  write-hold _ / read-hold _: holds WriteLock / ReadLock(PATH) until a line on stdin
  write-try _ / read-try _:   acquire(timeout=0.3): GOT or BLOCKED
  double N:        DoubleBarrier(PATH, N): enter -> ENTERED, leave -> LEFT
  barrier-set _:   Barrier(PATH).create(); HELD; waits for a line on stdin; remove(); RELEASED
  barrier-wait MS: Barrier(PATH).wait(MS / 1000): PASSED or TIMEOUT
"""
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import LockTimeout


def main():
    connect, kind, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    zk = KazooClient(hosts=connect, timeout=4.0)
    zk.start(timeout=15)
    if kind == "sem-hold":
        sems = [zk.Semaphore(path, "kazoo%d" % i, max_leases=n) for i in range(n)]
        for s in sems:
            s.acquire()
        print("HELD", flush=True)
        sys.stdin.readline()
        for s in sems:
            s.release()
        print("RELEASED", flush=True)
    elif kind == "sem-try":
        s = zk.Semaphore(path, "kazoo-try", max_leases=n)
        try:
            got = s.acquire(timeout=0.3)
        except LockTimeout:
            got = False
        print("GOT" if got else "BLOCKED", flush=True)
        if got:
            s.release()
    elif kind in ("write-hold", "read-hold"):
        lock = zk.WriteLock(path, "kazoo") if kind.startswith("write") else zk.ReadLock(path, "kazoo")
        lock.acquire()
        print("HELD", flush=True)
        sys.stdin.readline()
        lock.release()
        print("RELEASED", flush=True)
    elif kind in ("write-try", "read-try"):
        lock = zk.WriteLock(path, "kazoo") if kind.startswith("write") else zk.ReadLock(path, "kazoo")
        try:
            got = lock.acquire(timeout=0.3)
        except LockTimeout:
            got = False
        print("GOT" if got else "BLOCKED", flush=True)
        if got:
            lock.release()
    elif kind == "double":
        barrier = zk.DoubleBarrier(path, n)
        barrier.enter()
        print("ENTERED" if barrier.participating else "TIMEOUT", flush=True)
        barrier.leave()
        print("LEFT", flush=True)
    elif kind == "barrier-set":
        barrier = zk.Barrier(path)
        barrier.create()
        print("HELD", flush=True)
        sys.stdin.readline()
        barrier.remove()
        print("RELEASED", flush=True)
    elif kind == "barrier-wait":
        print("PASSED" if zk.Barrier(path).wait(n / 1000.0) else "TIMEOUT", flush=True)
    else:
        raise SystemExit("unknown kind " + kind)
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
