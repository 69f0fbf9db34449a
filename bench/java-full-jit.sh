#!/bin/sh
# `java` without the test harness's `-XX:TieredStopAtLevel=1` (C1 only, for fast test start-up),
# so the reference server runs with the full JIT (C2) as in production. Use as
# `JAVA=$PWD/bench/java-full-jit.sh cargo bench -p zk-bench --bench ...`. `exec` keeps the pid
# the harness recorded, so it still measures and stops the JVM itself.
for arg; do
    shift
    [ "$arg" = "-XX:TieredStopAtLevel=1" ] || set -- "$@" "$arg"
done
exec "${REAL_JAVA:-/usr/bin/java}" "$@"
