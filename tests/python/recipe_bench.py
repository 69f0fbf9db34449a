"""kazoo side of the recipes benchmark (bench/benches/recipes_vs_peers.rs).

Usage: recipe_bench.py CONNECT MODE PATH N  (modes and output as tests/java/RecipeBench.java:
uncontended -> RESULT ops_per_sec X; handoff -> RESULT handoff_p50_us / handoff_p99_us;
failover -> RESULT failover_p50_us / failover_p99_us, with kazoo Election).
"""
import sys
import threading
import time

from kazoo.client import KazooClient


def client(connect):
    zk = KazooClient(hosts=connect, timeout=10.0)
    zk.start(timeout=15)
    return zk


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def main():
    connect, mode, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "uncontended":
        zk = client(connect)
        lock = zk.Lock(path, "bench")
        for _ in range(50):
            lock.acquire()
            lock.release()
        t0 = time.monotonic()
        for _ in range(n):
            lock.acquire()
            lock.release()
        print("RESULT ops_per_sec", n / (time.monotonic() - t0), flush=True)
        zk.stop()
    elif mode == "handoff":
        contenders = 11
        per = max(1, n // contenders)
        clients = [client(connect) for _ in range(contenders)]
        events = []
        guard = threading.Lock()

        def run(zk):
            lock = zk.Lock(path, "bench")
            for _ in range(per):
                lock.acquire()
                with guard:
                    events.append((time.monotonic_ns(), 1))
                    events.append((time.monotonic_ns(), 0))
                lock.release()

        threads = [threading.Thread(target=run, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        events.sort()
        gaps = [(b[0] - a[0]) // 1000 for a, b in zip(events, events[1:]) if a[1] == 0 and b[1] == 1]
        print("RESULT handoff_p50_us", pct(gaps, 0.5), flush=True)
        print("RESULT handoff_p99_us", pct(gaps, 0.99), flush=True)
        for c in clients:
            c.stop()
    elif mode == "failover":
        a, b = client(connect), client(connect)
        gaps = []
        for _ in range(n):
            release = threading.Event()
            leading = threading.Event()
            took = {}

            def first():
                leading.set()
                release.wait()

            def second():
                took["t"] = time.monotonic_ns()

            ea, eb = a.Election(path, "a"), b.Election(path, "b")
            ta = threading.Thread(target=ea.run, args=(first,))
            ta.start()
            leading.wait()
            tb = threading.Thread(target=eb.run, args=(second,))
            tb.start()
            while len(eb.contenders()) < 2:
                time.sleep(0.001)
            t0 = time.monotonic_ns()
            release.set()
            tb.join()
            ta.join()
            gaps.append((took["t"] - t0) // 1000)
        print("RESULT failover_p50_us", pct(gaps, 0.5), flush=True)
        print("RESULT failover_p99_us", pct(gaps, 0.99), flush=True)
        a.stop()
        b.stop()
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
