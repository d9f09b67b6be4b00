#!/usr/bin/env bash
# Membership across real processes, watched with streamverse-ctl members:
# three nodes that each know only node-a form one cluster; a stalled node (SIGSTOP) turns
# suspect, then down, and comes back up when it runs again (SIGCONT);
# SIGTERM is a graceful leave; SIGKILL is found by the failure detector. node-a and node-b
# are in region eu-west, node-c in us-east (watched with the remote thresholds).
# Ports 17201-17203. Every wait is bounded. Usage: membership_test.sh NODE_BIN CTL_BIN
set -uo pipefail
node=$1
ctl=$2
source "$(dirname "$0")/node_processes.sh"
fast_detector="heartbeat_interval_ms = 100
connection_timeout_ms = 1000
suspect_after_ms = 600
down_after_ms = 800
remote_suspect_after_ms = 900
remote_down_after_ms = 1200"
write_config node-a 17201 '' "$fast_detector"
write_config node-b 17202 '"127.0.0.1:17201"' "$fast_detector"
write_config node-c 17203 '"127.0.0.1:17201"' "$fast_detector"
in_region() { # NAME REGION: sets node.region in NAME's config
  sed -i "s|^\[node\]\$|[node]\nregion = \"$2\"|" "$tmp/$1.toml"
}
in_region node-a eu-west
in_region node-b eu-west
in_region node-c us-east
sed -i 's|^\[node\]$|[node]\nzone = "b"|' "$tmp/node-b.toml"
for n in node-a node-b node-c; do
  start $n
done
pid_b=${pids[1]}
pid_c=${pids[2]}

members() { # port -> the table
  "$ctl" members --node "127.0.0.1:$1" --timeout-ms 1000 2>&1
}
# wait_for PORT REGEX SECONDS: polls the member table until a line matches.
wait_for() {
  local i
  for i in $(seq $(($3 * 10))); do
    members "$1" | grep -Eq "$2" && return 0
    sleep 0.1
  done
  return 1
}
count_up() { members "$1" | grep -Ec '^node-[abc] +[^ ]+ +up '; }

# 1. One cluster, a full mesh: node-b and node-c learned each other from node-a's gossip.
for _ in $(seq 100); do
  [ "$(count_up 17201)" = 3 ] && [ "$(count_up 17202)" = 3 ] && [ "$(count_up 17203)" = 3 ] && break
  sleep 0.1
done
for port in 17201 17202 17203; do
  [ "$(count_up $port)" = 3 ] || fail "node on $port does not see 3 members up: $(members $port)"
done
echo "three nodes up as seen from each (node-b and node-c seeded only with node-a)"
members 17202
# Each member's region, learned from its hello or from gossip, on every node.
for port in 17201 17202 17203; do
  t=$(members $port)
  grep -Eq '^node-a +.* eu-west$' <<< "$t" || fail "node on $port lacks node-a's region: $t"
  grep -Eq '^node-b +.* eu-west/b$' <<< "$t" || fail "node on $port lacks node-b's region: $t"
  grep -Eq '^node-c +.* us-east$' <<< "$t" || fail "node on $port lacks node-c's region: $t"
done
echo "regions listed on every node: node-a eu-west, node-b eu-west/b, node-c us-east"

# 2. A stall: node-c is suspect, then down; after SIGCONT it refutes and is up again.
inc_before=$(members 17201 | awk '$1 == "node-c" {print $4}')
kill -STOP "$pid_c"
wait_for 17201 '^node-c +[^ ]+ +suspect ' 5 || fail "stalled node-c never suspect"
wait_for 17201 '^node-c +[^ ]+ +down ' 5 || fail "stalled node-c never down"
echo "SIGSTOP node-c: suspect, then down"
kill -CONT "$pid_c"
wait_for 17201 '^node-c +[^ ]+ +up ' 10 || fail "node-c not up again after SIGCONT"
inc_after=$(members 17201 | awk '$1 == "node-c" {print $4}')
# Up again either by refuting (higher incarnation) or by a new handshake if the stall
# outlasted the transport's connection timeout; never by an older incarnation.
[ "$inc_after" -ge "$inc_before" ] || fail "node-c incarnation $inc_before -> $inc_after"
echo "SIGCONT node-c: up again (incarnation $inc_before -> $inc_after)"

# 3. SIGTERM: a graceful leave that the others see as leaving (then down), exit 0.
kill -TERM "$pid_b"
wait_for 17201 '^node-b +[^ ]+ +(leaving|down) ' 5 || fail "node-b's leave not seen"
wait "$pid_b"
rc=$?
[ "$rc" = 0 ] || fail "node-b exited $rc on SIGTERM"
grep -q "leaving the cluster" "$tmp/node-b.log" || fail "node-b did not announce its leave"
wait_for 17201 '^node-b +[^ ]+ +down ' 5 || fail "node-b never down after leaving"
echo "SIGTERM node-b: leaving, then down; exit 0"

# 4. SIGKILL: no goodbye; the failure detector finds it.
kill -KILL "$pid_c"
wait_for 17201 '^node-c +[^ ]+ +down ' 5 || fail "killed node-c never down"
echo "SIGKILL node-c: down"

# 5. ctl errors: unreachable node -> 1, bad arguments -> 2.
"$ctl" members --node 127.0.0.1:17209 --timeout-ms 500 > "$tmp/ctl.out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "ctl against a closed port exited $rc"
grep -q "127.0.0.1:17209" "$tmp/ctl.out" || fail "ctl error does not name the node: $(cat "$tmp/ctl.out")"
"$ctl" members --node nowhere > /dev/null 2>&1
[ $? = 2 ] || fail "ctl with a bad --node did not exit 2"
"$ctl" frobnicate --node 127.0.0.1:1 > /dev/null 2>&1
[ $? = 2 ] || fail "ctl with an unknown command did not exit 2"
echo "ctl: unreachable node exit 1, bad arguments exit 2"
