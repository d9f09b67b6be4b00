#!/usr/bin/env bash
# A live node's /metrics passes `promtool check metrics`; /healthz and /readyz answer 200;
# SIGTERM stops the node with exit code 0.
# Usage: metrics_promtool_test.sh NODE_BINARY
set -uo pipefail
node=$1
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
metrics_port=19180
cat > "$tmp/node.toml" <<TOML
[node]
name = "promtool-check"
data_dir = "$tmp/data"
[cluster]
port = 17180
[metrics]
port = $metrics_port
TOML
"$node" --config "$tmp/node.toml" > "$tmp/log" 2>&1 &
pid=$!
ok=
for _ in $(seq 100); do
  if curl -sf "http://127.0.0.1:$metrics_port/readyz" >/dev/null; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { echo "FAIL node never became ready"; cat "$tmp/log"; exit 1; }
curl -sf "http://127.0.0.1:$metrics_port/metrics" > "$tmp/metrics" || { echo "FAIL GET /metrics"; exit 1; }
grep -q '^sv_node_info{node="promtool-check"' "$tmp/metrics" || { echo "FAIL sv_node_info missing"; exit 1; }
if ! promtool check metrics < "$tmp/metrics"; then
  echo "FAIL promtool rejected the exposition:"
  cat "$tmp/metrics"
  exit 1
fi
curl -sf "http://127.0.0.1:$metrics_port/healthz" >/dev/null || { echo "FAIL /healthz"; exit 1; }
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || { echo "FAIL node exited $rc after SIGTERM"; cat "$tmp/log"; exit 1; }
echo "promtool accepted $(grep -vc '^#' "$tmp/metrics") samples; node stopped with 0"
