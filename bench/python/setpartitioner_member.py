"""One member of a kazoo SetPartitioner group, for zk-bench's partition comparison.

usage: setpartitioner_member.py HOSTS PATH ID UNITS TIME_BOUNDARY_S SESSION_TIMEOUT_S

Prints one line per state change (times in nanoseconds since the Unix epoch):
  ACQUIRED <id> <unix_ns> <unit,unit,...>   the partitioner reached ACQUIRED with these units
  RELEASED <id> <unix_ns>                   the set was released (membership changed)
  FAILED <id> <unix_ns>                     the partitioner failed (session lost)
  DONE <id> <unix_ns>                       finished after SIGTERM
"""

import signal
import sys
import time

from kazoo.client import KazooClient


def now_ns():
    return time.time_ns()


def main():
    hosts, path, ident, units, boundary, session = sys.argv[1:7]
    items = ["u%03d" % i for i in range(int(units))]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    zk = KazooClient(hosts=hosts, timeout=float(session))
    zk.start()
    partitioner = zk.SetPartitioner(
        path=path, set=items, identifier=ident, time_boundary=float(boundary)
    )
    reported = False
    while True:
        if stop:
            partitioner.finish()
            print("DONE %s %d" % (ident, now_ns()), flush=True)
            break
        if partitioner.failed:
            print("FAILED %s %d" % (ident, now_ns()), flush=True)
            break
        if partitioner.release:
            print("RELEASED %s %d" % (ident, now_ns()), flush=True)
            partitioner.release_set()
            reported = False
        elif partitioner.acquired:
            if not reported:
                mine = sorted(partitioner)
                print("ACQUIRED %s %d %s" % (ident, now_ns(), ",".join(mine)), flush=True)
                reported = True
            time.sleep(0.01)
        elif partitioner.allocating:
            partitioner.wait_for_acquire(timeout=0.5)
    zk.stop()
    zk.close()


if __name__ == "__main__":
    main()
