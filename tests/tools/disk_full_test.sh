#!/usr/bin/env bash
# A node whose data directory fills up (issue #18): its data dir is a small tmpfs, filled
# with a file while the node runs. Event batches then get 503 with a problem body (never
# 200), a title update is refused and the old version stays, /readyz on the metrics port and
# on the API says 503 naming the failing stores, and sv_store_write_failures_total counts.
# Once the file is gone, the same batch sent again is stored (200), /readyz is 200 again,
# and the history holds exactly the events of the batches answered 200: nothing refused
# was stored, nothing acknowledged is missing. A session closed while the disk was full
# resumes at its last position after a restart. Needs root (mount); cluster port 17441,
# HTTP 17451, metrics 17541. Every wait is bounded.
# Usage: disk_full_test.sh NODE_BIN CTL_BIN
set -uo pipefail
node=$1
ctl=$2
source "$(dirname "$0")/node_processes.sh"
command -v curl > /dev/null || fail "curl is not installed (tools/install-deps)"
[ "$(id -u)" = 0 ] || fail "needs root to mount a tmpfs for the data directory"
data="$tmp/data/node-a"
mkdir -p "$data"
mount -t tmpfs -o size=6m tmpfs "$data" || fail "cannot mount a tmpfs on $data"
# Stop the node, unmount, then remove the scratch directory.
trap 'keep=${KEEP_TMP:-}; KEEP_TMP=1 cleanup; umount "$data" 2>/dev/null; [ -n "$keep" ] || rm -rf "$tmp"' EXIT

printf '%s\n' "a-test-key-of-more-than-32-bytes-0123456789" > "$tmp/jwt.key"
write_config node-a 17441 '' "$(printf '[metrics]\nport = 17541\n[http]\nbind = "127.0.0.1"\nport = 17451\ntoken_key_file = "%s"\nrequest_timeout_ms = 3000\n' "$tmp/jwt.key")"
start node-a
a=$last_pid
A=http://127.0.0.1:17451
M=http://127.0.0.1:17541
status() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "$@"; }
for _ in $(seq 100); do [ "$(status $A/readyz)" = 200 ] && break; sleep 0.1; done
[ "$(status $A/readyz)" = 200 ] || fail "the API did not come up"
ops=$("$ctl" token --key-file "$tmp/jwt.key" --user ops-1 --scope "ops cms") || fail "token: $ops"
viewer=$("$ctl" token --key-file "$tmp/jwt.key" --user u-1 --scope viewer) || fail "token: $viewer"
as_viewer() { # as_viewer METHOD PATH [BODY]: sets code and body
  code=$(status -X "$1" -H "Authorization: Bearer $viewer" -H 'Content-Type: application/json' \
    ${3:+--data-binary "$3"} "$A$2")
  body=$(cat "$tmp/body")
}

now_ms=$(( $(date +%s) * 1000 ))
# batch SEQ N: N events of title disk-1 from producer edge-1.
batch() {
  local items=() i
  for i in $(seq "$2"); do
    items+=("{\"event_id\":\"b$1-$i\",\"session_id\":\"s-$i\",\"user_id\":\"u-$i\",\"content_id\":\"disk-1\",\"region\":\"eu-west\",\"type\":\"EVENT_HEARTBEAT\",\"timestamp_ms\":\"$now_ms\"}")
  done
  local IFS=,
  echo "{\"producer_id\":\"edge-1\",\"sequence\":\"$1\",\"events\":[${items[*]}]}"
}
post() { # post BODY: sets code and body
  code=$(status -X POST -H "Authorization: Bearer $ops" -H 'Content-Type: application/json' \
    --data-binary "$1" $A/v1/events)
  body=$(cat "$tmp/body")
}
repo=$(cd "$(dirname "$0")/../.." && pwd)
title() { # title NAME: the example title as disk-1, named NAME
  sed -e 's/premiere-1/disk-1/g' -e "s/Premiere Night/$1/" "$repo/config/examples/premiere.json" \
    | tr -d '\n'
}
put_title() {
  code=$(status -X PUT -H "Authorization: Bearer $ops" -H 'Content-Type: application/json' \
    -H 'If-Match: *' --data-binary "$1" $A/v1/titles/disk-1)
  body=$(cat "$tmp/body")
}
put_title "$(title first)"
[ "$code" = 200 ] || [ "$code" = 201 ] || fail "storing the title: $code $body"
post "$(batch 1 40)"
[ "$code" = 200 ] && grep -q '"stored":40' <<< "$body" || fail "the first batch: $code $body"
acked=40
as_viewer POST /v1/sessions '{"title":"disk-1","device":"tv","region":"eu-west"}'
[ "$code" = 201 ] || fail "open: $code $body"
sid=$(echo "$body" | sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p')
as_viewer POST "/v1/sessions/$sid/heartbeat" '{"position_ms":5000}'
[ "$code" = 200 ] || fail "heartbeat: $code $body"

# Fill the disk.
dd if=/dev/zero of="$data/filler" bs=64k 2> /dev/null
df -k "$data" | tail -1
refused=0
for seq in 2 3 4; do
  post "$(batch $seq 40)"
  [ "$code" = 200 ] && fail "batch $seq acknowledged on a full disk: $body"
  [ "$code" = 503 ] || fail "batch $seq on a full disk: $code, want 503: $body"
  grep -q '"status":503' <<< "$body" || fail "no problem body: $body"
  refused=$((refused + 1))
done
echo "on a full disk: $refused event batches answered 503"
# The viewer goes on and stops at 42 s: the close is acknowledged (the position is held in
# memory), and must reach the disk once it takes writes again.
as_viewer POST "/v1/sessions/$sid/heartbeat" '{"position_ms":42000}'
[ "$code" = 200 ] || fail "heartbeat on a full disk: $code $body"
as_viewer DELETE "/v1/sessions/$sid"
echo "close on a full disk: $code"
put_title "$(title second)"
[ "$code" -ge 500 ] || fail "a title update on a full disk answered $code: $body"
echo "title update on a full disk: $code"
[ "$(status $M/readyz)" = 503 ] || fail "metrics /readyz is not 503 on a full disk"
grep -q "analytics partition" "$tmp/body" || fail "/readyz does not name the store: $(cat "$tmp/body")"
cat "$tmp/body"
[ "$(status $A/readyz)" = 503 ] || fail "API /readyz is not 503 on a full disk"
failures=$(curl -s $M/metrics | awk '$1 == "sv_store_write_failures_total" {print $2}')
[ "${failures:-0}" -gt 0 ] || fail "no store write failure counted"
echo "store write failures counted: $failures"

# Space returns: the client sends its batches again and they are stored once each.
rm -f "$data/filler"
for seq in 2 3 4; do
  for _ in $(seq 50); do
    post "$(batch $seq 40)"
    [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] && grep -q '"stored":40' <<< "$body" \
    || fail "batch $seq after space returned: $code $body"
  acked=$((acked + 40))
done
for _ in $(seq 50); do [ "$(status $M/readyz)" = 200 ] && break; sleep 0.1; done
[ "$(status $M/readyz)" = 200 ] || fail "metrics /readyz still 503 after space returned: $(cat "$tmp/body")"
[ "$(status $A/readyz)" = 200 ] || fail "API /readyz still 503 after space returned"
put_title "$(title second)"
[ "$code" = 200 ] || fail "the title update after space returned: $code $body"
out=$("$ctl" analytics history --node 127.0.0.1:17441 --content disk-1 --minutes 30 2>&1) \
  || fail "analytics history: $out"
stored=$(echo "$out" | awk '$3 == "eu-west" {n += $NF} END {print n + 0}')
echo "acknowledged $acked events, history holds $stored"
[ "$stored" = "$acked" ] || fail "history holds $stored events, $acked were acknowledged: $out"
stop_a() {
  kill -TERM $a
  for _ in $(seq 150); do kill -0 $a 2>/dev/null || break; sleep 0.1; done
  kill -0 $a 2>/dev/null && fail "node-a still running 15 s after SIGTERM"
  wait $a || fail "node-a exited with $?"
}
# The closed session's position is on disk: after a restart the viewer resumes at 42 s.
stop_a
start node-a
a=$last_pid
for _ in $(seq 100); do [ "$(status $A/readyz)" = 200 ] && break; sleep 0.1; done
as_viewer GET /v1/users/u-1/positions/disk-1
[ "$code" = 200 ] && grep -q '"position_ms":"\?42000' <<< "$body" \
  || fail "the position after a restart: $code $body"
echo "after a restart the position is 42000 ms"
stop_a
echo "node-a stopped cleanly"
