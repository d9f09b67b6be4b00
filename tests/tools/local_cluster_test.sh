#!/usr/bin/env bash
# tools/local-cluster (the main job of tools/run): three nodes see each other within 5 s,
# and SIGTERM stops all of them with exit code 0 and no process left behind.
# Uses its own ports (17101-17103, 19101-19103) so it does not clash with tools/run.
# Usage: local_cluster_test.sh NODE_BINARY REPO_ROOT
set -uo pipefail
node=$1
root=$2
tmp=$(mktemp -d)
launcher=
cleanup() {
  [ -n "$launcher" ] && kill -KILL "$launcher" 2>/dev/null
  pkill -KILL -f "$tmp/" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/cluster"
for f in "$root"/config/local-cluster/*.toml; do
  sed -e 's/710\([0-9]\)/1710\1/g' -e 's/910\([0-9]\)/1910\1/g' \
      -e "s|data_dir = \"data/|data_dir = \"$tmp/data/|" "$f" > "$tmp/cluster/$(basename "$f")"
done
SV_NODE_BIN=$node "$root/tools/local-cluster" "$tmp/cluster" > "$tmp/log" 2>&1 &
launcher=$!
start=$SECONDS
seen=
for _ in $(seq 100); do # 10 s at most
  n=$(grep -c "peers=2" "$tmp/log")
  a=$(grep -c "status node=node-a peers=2" "$tmp/log")
  b=$(grep -c "status node=node-b peers=2" "$tmp/log")
  c=$(grep -c "status node=node-c peers=2" "$tmp/log")
  if [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ "$c" -gt 0 ]; then seen=1; break; fi
  sleep 0.1
done
elapsed=$((SECONDS - start))
if [ -z "$seen" ] || [ $elapsed -gt 5 ]; then
  echo "FAIL nodes did not all see 2 peers within 5 s (seen=$seen after ${elapsed}s)"
  cat "$tmp/log"
  exit 1
fi
echo "all three nodes report peers=2 after ${elapsed}s ($n status lines)"
kill -TERM "$launcher"
rc=
for _ in $(seq 150); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
wait "$launcher"
rc=$?
launcher=
if [ "$rc" -ne 0 ]; then
  echo "FAIL launcher exited $rc"
  cat "$tmp/log"
  exit 1
fi
if pgrep -f "$tmp/cluster" >/dev/null; then
  echo "FAIL node processes left behind:"
  pgrep -af "$tmp/cluster"
  exit 1
fi
stopped=$(grep -c "stopped$" "$tmp/log")
[ "$stopped" -eq 3 ] || { echo "FAIL expected 3 'stopped' lines, got $stopped"; cat "$tmp/log"; exit 1; }
echo "SIGTERM: launcher exit 0, 3 nodes stopped cleanly, no orphans"
