# Sourced by the process tests in this folder: a scratch directory, node configs, starting
# nodes, and clean-up that leaves no process behind. The including script sets `node` (the
# streamverse-node binary) first.

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# fail MESSAGE: prints it and the tail of every node log, then exits 1.
fail() {
  echo "FAIL $*"
  for f in "$tmp"/*.log; do echo "== $f"; tail -20 "$f"; done
  exit 1
}

# write_config NAME PORT SEEDS [EXTRA_CLUSTER_KEYS]: $tmp/NAME.toml for a node on
# 127.0.0.1:PORT with SEEDS (a TOML array body) and 100 ms gossip and seed retries.
write_config() {
  cat > "$tmp/$1.toml" <<TOML
[node]
name = "$1"
data_dir = "$tmp/data/$1"
scheduler_threads = 1
[cluster]
bind = "127.0.0.1"
port = $2
seeds = [$3]
seed_retry_ms = 100
gossip_interval_ms = 100
${4:-}
[log]
level = "info"
status_interval_ms = 0
TOML
}

# start NAME: runs the node of $tmp/NAME.toml in the background, logging to $tmp/NAME.log
# (appending, so a restart keeps the first run's lines); sets last_pid.
start() {
  "$node" --config "$tmp/$1.toml" >> "$tmp/$1.log" 2>&1 &
  last_pid=$!
  pids+=($last_pid)
}
