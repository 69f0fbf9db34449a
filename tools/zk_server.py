#!/usr/bin/env python3
"""Start a throwaway Apache ZooKeeper 3.8.0 (Debian package) on a free loopback port.

Used by the tools/capture_*.py scripts; the Rust tests use tests/src/real_zk.rs instead.

    with ZkServer(extended_types=True) as zk:
        print(zk.port, zk.four_letter("srvr"))

Or from a shell, to poke at a server by hand (Ctrl-C stops and deletes it):
    python3 tools/zk_server.py [--extended-types] [--tick 2000]
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
# The manifest of zookeeper.jar misses these (Netty factory); slf4j-simple gives us a log file.
EXTRA_JARS = [
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/netty-resolver.jar",
    "/usr/share/java/netty-transport-native-unix-common.jar",
    "/usr/share/java/slf4j-simple.jar",
]
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(port, word, timeout=5.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode("ascii"))
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out.decode("utf-8", "replace")
            out += chunk


def package_version():
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "zookeeper"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


class ZkServer:
    def __init__(self, extended_types=True, tick_time=2000, super_digest=None, extra_cfg=None):
        self.dir = tempfile.mkdtemp(prefix="zk-capture-")
        self.port = free_port()
        self.extended_types = extended_types
        self.tick_time = tick_time
        cfg = [
            f"tickTime={tick_time}",
            f"dataDir={self.dir}/data",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "maxClientCnxns=0",
        ]
        if extended_types:
            cfg.append("extendedTypesEnabled=true")
        cfg += [f"{k}={v}" for k, v in (extra_cfg or {}).items()]
        os.makedirs(f"{self.dir}/data")
        with open(f"{self.dir}/zoo.cfg", "w") as f:
            f.write("\n".join(cfg) + "\n")
        cp = ":".join([ZOOKEEPER_JAR] + [j for j in EXTRA_JARS if os.path.exists(j)])
        cmd = [
            "java",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-Djava.net.preferIPv4Stack=true",
            "-Dzookeeper.admin.enableServer=false",
            f"-Dorg.slf4j.simpleLogger.logFile={self.dir}/server.log",
        ]
        if extended_types:
            cmd.append("-Dzookeeper.extendedTypesEnabled=true")
        if super_digest:
            cmd.append(f"-Dzookeeper.DigestAuthenticationProvider.superDigest={super_digest}")
        cmd += ["-cp", cp, MAIN_CLASS, f"{self.dir}/zoo.cfg"]
        self._out = open(f"{self.dir}/stdout.log", "w")
        # Own session/process group: stop() kills the whole group.
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.proc.returncode}; see {self.dir}")
            try:
                if "Mode: standalone" in four_letter(self.port, "srvr", 1.0):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("ZooKeeper did not start within 60 s")
            time.sleep(0.1)

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def four_letter(self, word):
        return four_letter(self.port, word)

    def describe(self):
        return (
            f"Apache ZooKeeper 3.8.0 (Debian package zookeeper {package_version()}), standalone, "
            f"tickTime={self.tick_time}, extendedTypesEnabled={str(self.extended_types).lower()}, "
            "4lw.commands.whitelist=*"
        )

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self._out.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extended-types", action="store_true")
    ap.add_argument("--tick", type=int, default=2000)
    args = ap.parse_args()
    with ZkServer(extended_types=args.extended_types, tick_time=args.tick) as zk:
        print(f"ZooKeeper on 127.0.0.1:{zk.port} (dir {zk.dir}); Ctrl-C to stop", flush=True)
        try:
            while zk.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
