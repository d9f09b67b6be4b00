#!/usr/bin/env bash
# The catalog across real processes, driven with streamverse-ctl: an update sent through
# one node is versioned by its owner and readable on all three; a stale --expect, invalid
# metadata and malformed JSON are refused with a reason; a restarted node serves its stored
# version at once. Ports 17301-17303. Every wait is bounded.
# Usage: catalog_test.sh NODE_BIN CTL_BIN
set -uo pipefail
node=$1
ctl=$2
source "$(dirname "$0")/node_processes.sh"
write_config node-a 17301 ''
write_config node-b 17302 '"127.0.0.1:17301"'
write_config node-c 17303 '"127.0.0.1:17301"'
start node-a
start node-b
pid_b=$last_pid
start node-c
pid_c=$last_pid
up() { "$ctl" members --node "127.0.0.1:$1" 2>/dev/null | grep -Ec '^node-[abc] +[^ ]+ +up '; }
for _ in $(seq 100); do
  [ "$(up 17301)" = 3 ] && [ "$(up 17302)" = 3 ] && [ "$(up 17303)" = 3 ] && break
  sleep 0.1
done
[ "$(up 17303)" = 3 ] || fail "cluster did not form"

version_on() { # port id -> version or nothing
  "$ctl" metadata get --node "127.0.0.1:$1" --id "$2" 2>/dev/null \
    | sed -n 's/.*"version":"\([0-9]*\)".*/\1/p'
}
cat > "$tmp/title.json" <<'JSON'
{"id": "premiere-1", "title": "Premiere Night", "duration_s": 7200,
 "renditions": [{"id": "1080p", "codecs": "avc1.640028,mp4a.40.2", "width": 1920,
                 "height": 1080, "bitrate_kbps": 6000, "ready": true}],
 "availability": {"regions": ["eu-west", "us-east"]}}
JSON
out=$("$ctl" metadata put --node 127.0.0.1:17303 --file "$tmp/title.json" 2>&1) \
  || fail "put refused: $out"
[ "$out" = "premiere-1 version 1" ] || fail "put printed: $out"
for _ in $(seq 50); do
  [ "$(version_on 17301 premiere-1)" = 1 ] && [ "$(version_on 17302 premiere-1)" = 1 ] \
    && [ "$(version_on 17303 premiere-1)" = 1 ] && break
  sleep 0.1
done
for port in 17301 17302 17303; do
  [ "$(version_on $port premiere-1)" = 1 ] || fail "node on $port lacks premiere-1 v1"
done
echo "put through node-c: version 1 readable on all three nodes"
out=$("$ctl" cache get --node 127.0.0.1:17301 --key meta/premiere-1 2>&1) || fail "cache get: $out"
echo "$out" | head -1 | grep -Eq '^meta/premiere-1 version 1 from (origin|l2)$' \
  || fail "cache get printed: $out"
echo "$out" | grep -q '"title": *"Premiere Night"' || fail "cache get value: $out"
echo "cache get through node-a: version 1 from the catalog"

out=$("$ctl" metadata put --node 127.0.0.1:17301 --file "$tmp/title.json" --expect 5 2>&1)
[ $? = 1 ] || fail "stale --expect not refused: $out"
echo "$out" | grep -q version_conflict || fail "no version_conflict in: $out"
sed 's/"Premiere Night"/""/' "$tmp/title.json" > "$tmp/empty-title.json"
out=$("$ctl" metadata put --node 127.0.0.1:17302 --file "$tmp/empty-title.json" 2>&1)
[ $? = 1 ] || fail "empty title not refused: $out"
echo "$out" | grep -q "title: empty" || fail "no reason in: $out"
echo '{"id": "x", "title": ' > "$tmp/broken.json"
"$ctl" metadata put --node 127.0.0.1:17302 --file "$tmp/broken.json" > /dev/null 2>&1
[ $? = 2 ] || fail "malformed JSON did not exit 2"
[ "$(version_on 17302 premiere-1)" = 1 ] || fail "a refused update changed something"
echo "stale --expect, empty title, broken JSON: refused, nothing changed"

# A stall: node-c is stopped for 5 s while premiere-1 changes; after SIGCONT it must have
# the new version within 2 s (the requirement), through gossip and anti-entropy.
kill -STOP "$pid_c"
stopped_at=$(date +%s%N)
for _ in $(seq 60); do
  "$ctl" members --node 127.0.0.1:17301 2>/dev/null | grep -Eq '^node-c +[^ ]+ +up ' || break
  sleep 0.1
done
out=$("$ctl" metadata put --node 127.0.0.1:17301 --file "$tmp/title.json" --expect 1 2>&1) \
  || { kill -CONT "$pid_c"; fail "put during the stall: $out"; }
[ "$out" = "premiere-1 version 2" ] || { kill -CONT "$pid_c"; fail "put during the stall printed: $out"; }
while [ $(( ($(date +%s%N) - stopped_at) / 1000000 )) -lt 5000 ]; do sleep 0.1; done
kill -CONT "$pid_c"
resumed_at=$(date +%s%N)
for _ in $(seq 100); do
  [ "$(version_on 17303 premiere-1)" = 2 ] && break
  sleep 0.02
done
caught_up_ms=$(( ($(date +%s%N) - resumed_at) / 1000000 ))
[ "$(version_on 17303 premiere-1)" = 2 ] || fail "node-c never caught up after SIGCONT"
[ "$caught_up_ms" -le 2000 ] || fail "node-c caught up only after $caught_up_ms ms (> 2 s)"
echo "SIGSTOP node-c for 5 s during an update: version 2 there ${caught_up_ms} ms after SIGCONT"
for port in 17301 17302 17303; do
  out=$("$ctl" cache get --node 127.0.0.1:$port --key meta/premiere-1 2>&1) || fail "cache get: $out"
  echo "$out" | head -1 | grep -q '^meta/premiere-1 version 2 ' || fail "stale cache on $port: $out"
done
echo "cache get through every node: version 2 (the update invalidated the cached version 1)"

kill -TERM "$pid_b"
wait "$pid_b" || fail "node-b did not stop cleanly"
start node-b
for _ in $(seq 50); do
  v=$(version_on 17302 premiere-1)
  [ -n "$v" ] && break
  sleep 0.1
done
[ "$v" = 2 ] || fail "restarted node-b does not serve premiere-1 v2 (got '$v')"
grep -q "catalog: 1 titles loaded" "$tmp/node-b.log" || fail "node-b did not load its store"
echo "restarted node-b serves version 2 from its own store"

# The owner of a title is SIGKILLed: ownership moves to the next member by rendezvous
# hashing, which continues from its replica (nothing lost). content-42 is owned by node-b
# among node-a, node-b, node-c (pinned in the placement unit test).
# node-a and node-c must be connected to each other again after the stall, not only hear of
# each other through node-b (the SIGKILL of node-b below would cut them apart).
for _ in $(seq 100); do
  [ "$(grep -c 'peer node-c connected' "$tmp/node-a.log")" -ge 2 ] && break
  sleep 0.1
done
[ "$(grep -c 'peer node-c connected' "$tmp/node-a.log")" -ge 2 ] \
  || fail "node-a did not reconnect to node-c after the stall"
# The restarted node-b must count as up everywhere first (else the owner is another node).
for _ in $(seq 100); do
  [ "$(up 17301)" = 3 ] && [ "$(up 17302)" = 3 ] && [ "$(up 17303)" = 3 ] && break
  sleep 0.1
done
sed -e 's/"premiere-1"/"content-42"/' "$tmp/title.json" > "$tmp/c42.json"
out=$("$ctl" metadata put --node 127.0.0.1:17301 --file "$tmp/c42.json" 2>&1) || fail "put c42: $out"
[ "$out" = "content-42 version 1" ] || fail "put c42 printed: $out"
kill -KILL "$last_pid" # node-b (restarted above)
for _ in $(seq 50); do
  "$ctl" members --node 127.0.0.1:17301 2>/dev/null | grep -Eq '^node-b +[^ ]+ +up ' || break
  sleep 0.1
done
out=$("$ctl" metadata put --node 127.0.0.1:17303 --file "$tmp/c42.json" --expect 1 2>&1) \
  || fail "put after the owner died: $out"
[ "$out" = "content-42 version 2" ] || fail "after the owner died, put printed: $out"
for _ in $(seq 50); do
  [ "$(version_on 17301 content-42)" = 2 ] && [ "$(version_on 17303 content-42)" = 2 ] && break
  sleep 0.1
done
[ "$(version_on 17301 content-42)" = 2 ] || fail "node-a lacks content-42 v2"
[ "$(version_on 17303 content-42)" = 2 ] || fail "node-c lacks content-42 v2"
echo "SIGKILL of content-42's owner: the next owner continued at version 2, nothing lost"

# The minority side refuses: node-b is dead and node-c stops, so node-a is alone among three
# voters. An update through node-a must be refused as unavailable (no majority) and change
# nothing; once node-c is back the same update goes through.
kill -STOP "$pid_c"
for _ in $(seq 60); do
  "$ctl" members --node 127.0.0.1:17301 2>/dev/null | grep -Eq '^node-c +[^ ]+ +up ' || break
  sleep 0.1
done
put_at=$(date +%s%N)
out=$("$ctl" metadata put --node 127.0.0.1:17301 --file "$tmp/c42.json" --expect 2 2>&1)
rc=$?
echo "minority put answered after $(( ($(date +%s%N) - put_at) / 1000000 )) ms: $out"
[ "$(version_on 17301 content-42)" = 2 ] || { kill -CONT "$pid_c"; fail "a refused update changed node-a"; }
kill -CONT "$pid_c"
[ $rc = 1 ] || fail "node-a alone accepted an update (exit $rc): $out"
echo "$out" | grep -q "no majority" || fail "no 'no majority' reason in: $out"
for _ in $(seq 50); do
  "$ctl" members --node 127.0.0.1:17301 2>/dev/null | grep -Eq '^node-c +[^ ]+ +up ' && break
  sleep 0.1
done
out=$("$ctl" metadata put --node 127.0.0.1:17301 --file "$tmp/c42.json" --expect 2 2>&1) \
  || fail "put after node-c resumed: $out"
[ "$out" = "content-42 version 3" ] || fail "after node-c resumed, put printed: $out"
echo "node-a without a majority refused the update (no majority); with node-c back: version 3"

# The analytics service answers through any node (nothing emitted in this cluster: zeros).
# node-c was stopped a moment ago and its links are still settling: after the stall its
# connections to the others are dropped and made again, and node-b was killed just before.
# A query relayed to an owner over a link that drops meanwhile is answered request_timeout
# after 2 x resend_ms (an explicit error; seen once in CI: node-c's link to node-a was
# reset 1 ms after node-c marked node-b down). Under a parallel test run this machine's
# two cores are busy too: a generous deadline, and up to 5 asks, as this checks the
# answer, not its latency.
asked_at=$(date +%s%N)
for attempt in 1 2 3 4 5; do
  if out=$("$ctl" analytics window --node 127.0.0.1:17303 --content premiere-1 --region eu-west \
    --seconds 60 --timeout-ms 15000 2>&1); then
    break
  fi
  [ $attempt = 5 ] && fail "analytics window, 5 asks in $(( ($(date +%s%N) - asked_at) / 1000000 )) ms: $out"
  echo "analytics window ask $attempt: $out (asking again)"
  sleep 1
done
echo "$out" | grep -q '^last 60 s: viewers 0, events 0, starts 0' || fail "analytics window printed: $out"
"$ctl" analytics window --node 127.0.0.1:17303 --content x --region y --seconds 61 > /dev/null 2>&1
[ $? = 2 ] || fail "--seconds 61 not refused"
echo "analytics window through node-c: answered"
