#!/usr/bin/env bash
# Regenerate every golden fixture in zk-proto/tests/fixtures/ from real software.
# Usage: tools/capture_all.sh            (from the repository root; takes about a minute)
# Needs: apt-get install zookeeper zookeeper-bin; pip install kazoo.
# Each script starts its own ZooKeeper 3.8.0 (extendedTypesEnabled=true, 4lw enabled) on a free
# loopback port, records through tools/capture_proxy.py, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
out=zk-proto/tests/fixtures
mkdir -p "$out"
python3 tools/capture_kazoo.py --out "$out/kazoo.txt"
python3 tools/capture_zkcli.py --out "$out/zkcli.txt"
python3 tools/capture_cli_mt.py --out "$out/cli_mt.txt"
python3 tools/capture_raw.py --out "$out/raw.txt"
python3 tools/fixture_summary.py "$out"/*.txt
