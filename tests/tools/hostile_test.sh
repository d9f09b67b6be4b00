#!/usr/bin/env bash
# Strangers on the cluster port (issue #18): a two-node cluster takes random bytes, headers
# announcing 4 GiB, thousands of idle connections, half-started TLS handshakes and, after
# well-formed BASP handshakes, hostile messages to every actor id up to 64 (CAF's
# config_value that throws, lone errors, exit messages, a link naming a local actor, a
# 4 GiB byte buffer, 20,000-deep nesting, random contents). Afterwards both nodes are up
# and see each other, no peer link dropped, node-a's memory grew by less than 64 MB, it
# idles, each kind of refusal was counted, an operator can connect during the idle flood,
# and SIGTERM stops the node cleanly. The metrics port takes random bytes and idle
# connections and still answers. Ports 17421-17422 (metrics 17521-17522). Every wait
# is bounded.
# Usage: hostile_test.sh NODE_BIN CTL_BIN HOSTILE_BIN SOURCE_DIR
set -uo pipefail
node=$1
ctl=$2
hostile=$3
src=$4
source "$(dirname "$0")/node_processes.sh"
extra='max_pending_connections = 32
handshake_timeout_ms = 1000
[metrics]
port = PORT'
write_config node-a 17421 '' "${extra/PORT/17521}"
write_config node-b 17422 '"127.0.0.1:17421"' "${extra/PORT/17522}"
start node-a
a=$last_pid
start node-b
b=$last_pid

both_up() {
  for port in 17421 17422; do
    out=$("$ctl" members --node 127.0.0.1:$port --timeout-ms 2000 2>&1) || return 1
    [ "$(grep -c ' up ' <<< "$out")" = 2 ] || return 1
  done
}
for _ in $(seq 100); do both_up && break; sleep 0.2; done
both_up || fail "the cluster did not form"
metric() { # metric PORT NAME_AND_LABELS: the value, 0 when absent
  curl -s "127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2; found = 1} END {if (!found) print 0}'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss0=$(rss_kb $a)

run() {
  out=$("$hostile" "$@" --target 127.0.0.1:17421) || fail "sv-hostile $*: $out"
  echo "$out"
}
# The issue's two reproductions first: 200 short connections of up to 4 KiB of random
# bytes, 200 headers announcing 4 GiB. Then more of each.
run random --connections 200 --bytes 4096 --seed 1
run huge-frame --connections 200 --bytes 4096 --hold-ms 500
run random --connections 2000 --bytes 4096 --seed 2
# 2000 idle connections, held 3 s: an operator still connects meanwhile.
"$hostile" idle --connections 2000 --hold-ms 3000 --target 127.0.0.1:17421 > "$tmp/idle.json" &
idle=$!
pids+=($idle)
sleep 1
"$ctl" members --node 127.0.0.1:17421 --timeout-ms 3000 > /dev/null 2>&1 \
  || fail "streamverse-ctl could not connect during the idle flood"
wait $idle || fail "sv-hostile idle: $(cat "$tmp/idle.json")"
cat "$tmp/idle.json"
run tls-half --connections 200 --hold-ms 1500
msgs=$(run messages --actors 64 --payload "$src/fuzz/regressions/fuzz_cluster_message/caf-config-value-throws.bin")
echo "$msgs"
grep -q '"handshake":true' <<< "$msgs" || fail "no BASP handshake with the node"

# The metrics port (the node's HTTP server): random bytes, idle connections.
out=$("$hostile" random --connections 500 --bytes 4096 --seed 3 --target 127.0.0.1:17521) \
  || fail "sv-hostile random on the metrics port: $out"
echo "$out"
out=$("$hostile" idle --connections 300 --hold-ms 1000 --target 127.0.0.1:17521) \
  || fail "sv-hostile idle on the metrics port: $out"
echo "$out"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 127.0.0.1:17521/metrics)
[ "$code" = 200 ] || fail "/metrics answered $code after the attack on the metrics port"

kill -0 $a 2>/dev/null || fail "node-a died"
sleep 1
for _ in $(seq 50); do both_up && break; sleep 0.2; done
both_up || fail "the nodes do not both see two members up after the attack"
for port in 17521 17522; do
  d=$(metric $port sv_cluster_peer_disconnects_total)
  [ "$d" = 0 ] || fail "a peer link dropped (127.0.0.1:$port: $d disconnects)"
done
for reason in bad_header no_handshake frame_too_large forbidden_type foreign_link malformed; do
  n=$(metric 17521 "sv_cluster_guard_refusals_total{reason=\"$reason\"}")
  [ "$n" -gt 0 ] || fail "no refusal counted for $reason"
  echo "refused $reason: $n"
done
evicted=$(( $(metric 17521 'sv_cluster_guard_refusals_total{reason="pending_limit"}') +
            $(metric 17521 'sv_cluster_guard_refusals_total{reason="handshake_timeout"}') ))
[ "$evicted" -gt 0 ] || fail "no idle connection was pushed out or timed out"
limit=$(metric 17521 'sv_cluster_guard_refusals_total{reason="connection_limit"}')
echo "idle connections pushed out or timed out: $evicted; over the connection limit: $limit"
for _ in $(seq 50); do
  [ "$(metric 17521 sv_cluster_guard_connections)" = 1 ] && break
  sleep 0.1
done
open=$(metric 17521 sv_cluster_guard_connections)
[ "$open" = 1 ] || fail "$open connections still open on node-a (the peer's only expected)"
rss1=$(rss_kb $a)
grow=$(( (rss1 - rss0) / 1024 ))
echo "node-a RSS ${rss0} kB before, ${rss1} kB after (+${grow} MB)"
[ $grow -lt 64 ] || fail "node-a grew by $grow MB"
t0=$(cpu_ticks $a)
sleep 2
busy=$(( $(cpu_ticks $a) - t0 ))
echo "node-a CPU over 2 s after the attack: $busy ticks"
[ $busy -lt 60 ] || fail "node-a is still busy after the attack ($busy ticks in 2 s)"
kill -TERM $a
for _ in $(seq 150); do kill -0 $a 2>/dev/null || break; sleep 0.1; done
kill -0 $a 2>/dev/null && fail "node-a still running 15 s after SIGTERM"
wait $a
rc=$?
[ $rc = 0 ] || fail "node-a exited with $rc"
echo "node-a stopped cleanly on SIGTERM after the attack"
