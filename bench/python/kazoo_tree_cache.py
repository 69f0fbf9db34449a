"""kazoo's TreeCache over HOSTS PATH, for the tree cache benchmark.

Prints "INIT_MS <milliseconds from start() to INITIALIZED> <nodes>", then one
"EVENT <CREATED|CHANGED|DELETED> <path> <unix ns at the listener>" line per event.
"""
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.recipe.cache import TreeCache, TreeEvent

KINDS = {
    TreeEvent.NODE_ADDED: "CREATED",
    TreeEvent.NODE_UPDATED: "CHANGED",
    TreeEvent.NODE_REMOVED: "DELETED",
}


def count(cache, path):
    todo, n = [path], 0
    while todo:
        p = todo.pop()
        children = cache.get_children(p)
        if children is None:
            continue
        n += 1
        todo.extend(p.rstrip("/") + "/" + c for c in children)
    return n


def main():
    hosts, path = sys.argv[1], sys.argv[2]
    zk = KazooClient(hosts=hosts, timeout=30)
    zk.start(timeout=30)
    cache = TreeCache(zk, path)
    start = [0.0]
    initialized = [False]

    def listener(event):
        if event.event_type == TreeEvent.INITIALIZED:
            ms = int((time.monotonic() - start[0]) * 1000)
            initialized[0] = True
            print("INIT_MS", ms, count(cache, path), flush=True)
        elif initialized[0] and event.event_type in KINDS and event.event_data is not None:
            print("EVENT", KINDS[event.event_type], event.event_data.path, time.time_ns(), flush=True)

    cache.listen(listener)
    start[0] = time.monotonic()
    cache.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
