#!/usr/bin/env bash
# A node stops cleanly on SIGTERM while a client floods it with more sessions than it can
# serve (issue #14): it exits 0 within 15 s, logging "stopped", and the client's items are
# all answered (refusals and "unavailable" once it is gone, no hang). Then the same node
# starts again on the same data. Port 17331. Every wait is bounded.
# Usage: sigterm_test.sh NODE_BIN CTL_BIN
set -uo pipefail
node=$1
ctl=$2
source "$(dirname "$0")/node_processes.sh"
write_config node-a 17331 ''
start node-a
pid=$last_pid
for _ in $(seq 100); do
  "$ctl" members --node 127.0.0.1:17331 >/dev/null 2>&1 && break
  sleep 0.1
done
"$ctl" metadata put --node 127.0.0.1:17331 --file "$(dirname "$0")/../../config/examples/premiere.json" \
  >/dev/null 2>&1 || fail "cannot store the title"
# 1M viewers, a heartbeat each every 2 s: about 500k items a second, far past what one
# node on one scheduler thread serves.
"$ctl" load --node 127.0.0.1:17331 --viewers 1000000 --interval-ms 2000 --seconds 20 \
  > "$tmp/load.log" 2>&1 &
load=$!
pids+=($load)
sleep 8
grep -q "ok [1-9]" "$tmp/load.log" || fail "the load never got an answer: $(tail -3 "$tmp/load.log")"
start_ns=$(date +%s%N)
kill -TERM "$pid"
stopped=0
for _ in $(seq 150); do
  if ! kill -0 "$pid" 2>/dev/null; then stopped=1; break; fi
  sleep 0.1
done
[ $stopped = 1 ] || fail "node still running 15 s after SIGTERM"
wait "$pid"
rc=$?
took_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
[ $rc = 0 ] || fail "node exited with $rc"
grep -q "node-a stopped" "$tmp/node-a.log" || fail "no 'stopped' line in the log"
echo "node-a stopped cleanly on SIGTERM under load in $took_ms ms"
# The client is told, and does not hang: it finishes its run.
for _ in $(seq 250); do
  kill -0 "$load" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$load" 2>/dev/null && fail "the load client hangs after the node stopped"
tail -2 "$tmp/load.log" | grep -Eq "other [1-9]|overloaded [1-9]|ok 0" \
  || fail "the client saw no refusal after the stop: $(tail -2 "$tmp/load.log")"
start node-a
for _ in $(seq 100); do
  "$ctl" metadata get --node 127.0.0.1:17331 --id premiere-1 >/dev/null 2>&1 && break
  sleep 0.1
done
"$ctl" metadata get --node 127.0.0.1:17331 --id premiere-1 >/dev/null 2>&1 \
  || fail "node-a did not come back on its data"
echo "node-a restarted on its data"
# What the load's sessions emitted is still there after the restart: the title's history
# per minute (eu-west viewers), from the partition's rollups, through streamverse-ctl.
out=$("$ctl" analytics history --node 127.0.0.1:17331 --content premiere-1 --minutes 30 2>&1) \
  || fail "analytics history: $out"
grep -q "at node-a: answered" <<< "$out" || fail "analytics history: $out"
events=$(echo "$out" | awk '$3 == "eu-west" {n += $NF} END {print n + 0}')
[ "$events" -gt 0 ] || fail "no events in the history: $out"
"$ctl" analytics history --node 127.0.0.1:17331 --content x --minutes 0 > /dev/null 2>&1
[ $? = 2 ] || fail "--minutes 0 not refused"
echo "history after the restart: $events events"
