#!/usr/bin/env bash
# The player API (HTTP/1.1 + JSON) on two node processes, driven with curl as players, a
# CMS and an operator would: tokens from `streamverse-ctl token`; a title written through
# one node and read through the other with ETag/304 and a new ETag after an update; its
# master playlist parsed by m3u8-parser; a session opened, heartbeated, sought, closed
# (and one of its requests through the other node); the resume position; the analytics
# windows; and every kind of bad input answered with its status and a problem body,
# changing nothing. Cluster ports 17341-17342, HTTP 17351-17352. Every wait is bounded.
# Usage: http_api_test.sh NODE_BIN CTL_BIN
set -uo pipefail
node=$1
ctl=$2
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/node_processes.sh"
command -v curl > /dev/null || fail "curl is not installed (tools/install-deps)"

printf '%s\n' "a-test-key-of-more-than-32-bytes-0123456789" > "$tmp/jwt.key"
http_keys() { printf '\n[http]\nbind = "127.0.0.1"\nport = %s\ntoken_key_file = "%s"\nrequest_timeout_ms = 3000\n' "$1" "$tmp/jwt.key"; }
write_config node-a 17341 '' "$(http_keys 17351)"
write_config node-b 17342 '"127.0.0.1:17341"' "$(http_keys 17352)"
start node-a
start node-b
pid_b=$last_pid
A=http://127.0.0.1:17351
B=http://127.0.0.1:17352
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' $A/readyz)" = 200 ] \
    && [ "$(curl -s -o /dev/null -w '%{http_code}' $B/readyz)" = 200 ] \
    && "$ctl" members --node 127.0.0.1:17342 2>/dev/null | grep -q '^node-a .* up ' && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' $B/readyz)" = 200 ] || fail "the API did not come up"

token() { "$ctl" token --key-file "$tmp/jwt.key" --user "$1" --scope "$2" ${3:+--ttl-s $3}; }
viewer=$(token u-1 viewer) || fail "token: $viewer"
viewer2=$(token u-2 viewer)
cms=$(token cms-1 cms)
ops=$(token ops-1 ops)
printf '%s\n' "another-key-of-more-than-32-bytes-9876543210" > "$tmp/other.key"
forged=$("$ctl" token --key-file "$tmp/other.key" --user u-1 --scope viewer)
expired=$("$ctl" token --key-file "$tmp/jwt.key" --user u-1 --scope viewer --expires-at 1000000000)

# call METHOD URL TOKEN [BODY [EXTRA_HEADER]]: sets $code, $body ($tmp/body), $headers.
call() {
  local args=(-s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$1" "$2")
  [ -n "$3" ] && args+=(-H "Authorization: Bearer $3")
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  [ -n "${5:-}" ] && args+=(-H "$5")
  : > "$tmp/body"
  code=$(curl "${args[@]}")
  body=$(cat "$tmp/body")
  headers=$(tr -d '\r' < "$tmp/headers")
}
# call_critical ...: call, again after Retry-After while the node answers 429 (at most 5
# times), as a player does.
call_critical() {
  for _ in 1 2 3 4 5; do
    call "$@"
    [ "$code" = 429 ] || return 0
    echo "429 (retrying): $body"
    sleep "$(header retry-after)"
  done
}
expect() { # STATUS WHAT: the last call's status, and a problem body for errors
  [ "$code" = "$1" ] || fail "$2: status $code, want $1: $body"
  if [ "$1" -ge 400 ]; then
    grep -qi '^content-type: application/problem+json' <<< "$headers" \
      || fail "$2: no problem body: $headers"
    grep -q "\"status\":$1" <<< "$body" || fail "$2: problem body without its status: $body"
  fi
}
header() { sed -n "s/^$1: //Ip" <<< "$headers" | sed -n 1p; }

# A title from the CMS through node-b, read through node-a: ETag, 304, then a new version.
title=$(tr -d '\n' < "$repo/config/examples/premiere.json")
call PUT $B/v1/titles/premiere-1 "$cms" "$title"
expect 428 "PUT without If-Match"
call PUT $B/v1/titles/premiere-1 "$cms" "$title" 'If-Match: *'
expect 200 "PUT premiere-1"
v1=$(echo "$body" | sed -n 's/.*"version":\([0-9]*\).*/\1/p')
[ -n "$v1" ] || fail "no version in $body"
for _ in $(seq 50); do
  call GET $A/v1/titles/premiere-1 "$viewer"
  [ "$code" = 200 ] && break
  sleep 0.1
done
expect 200 "GET premiere-1 through node-a"
etag=$(header etag)
[ "$etag" = "\"$v1\"" ] || fail "ETag $etag, want \"$v1\""
grep -q '"title":"Premiere Night"' <<< "$body" || fail "title body: $body"
grep -q 'max-age=' <<< "$(header cache-control)" || fail "no Cache-Control: $headers"
call GET $A/v1/titles/premiere-1 "$viewer" '' "If-None-Match: $etag"
expect 304 "a matching If-None-Match"
[ -z "$body" ] || fail "a 304 with a body: $body"
changed=$(echo "$title" | sed 's/Premiere Night/Premiere Night (extended)/')
call PUT $B/v1/titles/premiere-1 "$cms" "$changed" "If-Match: \"$v1\""
expect 200 "PUT with the current version"
call PUT $B/v1/titles/premiere-1 "$cms" "$changed" "If-Match: \"$v1\""
expect 412 "PUT with a stale If-Match"
for _ in $(seq 50); do
  call GET $A/v1/titles/premiere-1 "$viewer" '' "If-None-Match: $etag"
  [ "$code" = 200 ] && break
  sleep 0.1
done
expect 200 "the old ETag after an update"
[ "$(header etag)" != "$etag" ] || fail "the same ETag after an update"
grep -q 'extended' <<< "$body" || fail "the new version not served: $body"
echo "title: v$v1 then $(header etag); 304 for the old tag before the update, 200 after"

# The master playlist, through the cache, parsed by a real HLS parser.
mkdir -p "$tmp/hls"
for device in tv web mobile; do
  call GET "$A/v1/titles/premiere-1/master.m3u8?device=$device" "$viewer"
  expect 200 "playlist for $device"
  grep -q 'application/vnd.apple.mpegurl' <<< "$(header content-type)" || fail "playlist type: $headers"
  n=2; [ $device = mobile ] && n=1
  cp "$tmp/body" "$tmp/hls/L0-$device-$n.m3u8"
  call GET "$A/v1/titles/premiere-1/master.m3u8?device=$device" "$viewer" '' "If-None-Match: $(header etag)"
  expect 304 "playlist revalidation"
done
if command -v node > /dev/null && [ -d "$repo/tools/npm/node_modules/m3u8-parser" ]; then
  NODE_PATH="$repo/tools/npm/node_modules" node "$repo/tests/tools/hls_check.js" "$tmp"/hls/*.m3u8 \
    || fail "m3u8-parser refused a served playlist"
else
  fail "m3u8-parser is not installed (tools/install-deps)"
fi
call GET "$A/v1/titles/premiere-1/master.m3u8?device=fridge" "$viewer"
expect 400 "an unknown device"
call GET "$A/v1/titles/nothing-here/master.m3u8" "$viewer"
expect 404 "the playlist of an unknown title"

# A session: open on node-a, heartbeat, seek through node-b (forwarded), close.
call_critical POST $A/v1/sessions "$viewer" '{"title":"premiere-1","device":"tv","region":"eu-west"}'
expect 201 "open"
sid=$(echo "$body" | sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p')
grep -q '^node-a~' <<< "$sid" || fail "session id $sid"
grep -q '"playlist_url":"/v1/titles/premiere-1/master.m3u8?device=tv"' <<< "$body" \
  || fail "open answer: $body"
call_critical POST "$A/v1/sessions/$sid/heartbeat" "$viewer" '{"position_ms":61000,"bitrate_kbps":6000}'
expect 200 "heartbeat"
call_critical POST "$B/v1/sessions/$sid/heartbeat" "$viewer" '{"position_ms":71000}'
expect 200 "heartbeat through node-b"
call_critical POST "$B/v1/sessions/$sid/commands" "$viewer" '{"action":"seek","position_ms":90000}'
expect 200 "seek through node-b"
call_critical POST "$A/v1/sessions/$sid/heartbeat" "$viewer2" '{"position_ms":1}'
expect 404 "another user's session"
call_critical POST "$A/v1/sessions/$sid/commands" "$viewer" '{"action":"rewind"}'
expect 400 "an unknown action"
call_critical DELETE "$A/v1/sessions/$sid" "$viewer"
expect 200 "close"
call_critical POST "$A/v1/sessions/$sid/heartbeat" "$viewer" '{"position_ms":1}'
expect 404 "a heartbeat after the close"
call_critical POST $A/v1/sessions "$viewer" '{"title":"premiere-1","device":"tv","region":"ap-south"}'
expect 403 "a region the title is not in"
grep -q '"code":"not_in_region"' <<< "$body" || fail "refusal reason: $body"
call_critical POST $A/v1/sessions "$viewer" '{"title":"no-such-title","device":"tv","region":"eu-west"}'
expect 404 "an unknown title"

# Resume on any device: the close's position, through the other node.
call GET $B/v1/users/u-1/positions/premiere-1 "$viewer"
expect 200 "the position"
grep -q '"position_ms":"90000"\|"position_ms":90000' <<< "$body" || fail "position: $body"
call GET $B/v1/users/u-1/positions/premiere-1 "$viewer2"
expect 403 "another user's position"
call GET $B/v1/users/u-1/positions/premiere-1 "$ops"
expect 200 "an operator reads any position"
call_critical POST $A/v1/sessions "$viewer" '{"title":"premiere-1","device":"web"}'
expect 400 "an open without a region on a node without one"
call_critical POST $A/v1/sessions "$viewer" '{"title":"premiere-1","device":"web","region":"us-east"}'
expect 201 "a second open"
grep -q '"resume_position_ms":"90000"\|"resume_position_ms":90000' <<< "$body" \
  || fail "the second open does not resume at 90000: $body"

sid2=$(echo "$body" | sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p')

# Batches: heartbeats of several sessions (JSON, then protobuf), answered per item.
call_critical POST $B/v1/heartbeats "$viewer" \
  "{\"heartbeats\":[{\"session_id\":\"$sid2\",\"position_ms\":5000},{\"session_id\":\"node-a~1~0000000000000000\"}]}"
expect 200 "a heartbeat batch"
grep -q '"results":\[{"ok":true.*},{"ok":false,"status":404,"code":"unknown_session"' <<< "$body" \
  || fail "heartbeat batch results: $body"
printf 'heartbeats { session_id: "%s" position_ms: 6000 }\n' "$sid2" \
  | protoc --encode=streamverse.v1.api.HeartbeatBatch -I "$repo/actors/api" "$repo/actors/api/api.proto" \
  > "$tmp/hb.bin" || fail "protoc --encode"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $viewer" \
  -H 'Content-Type: application/x-protobuf' --data-binary "@$tmp/hb.bin" $A/v1/heartbeats)
[ "$code" = 200 ] && grep -q '"ok":1' "$tmp/body" || fail "protobuf heartbeat batch: $code $(cat "$tmp/body")"
# Events: one valid, one with a timestamp a day away; the resend stores nothing.
now_ms=$(( $(date +%s) * 1000 ))
events="{\"producer_id\":\"player-u-1\",\"sequence\":\"1\",\"events\":[
 {\"event_id\":\"e-1\",\"session_id\":\"$sid2\",\"user_id\":\"u-1\",\"content_id\":\"premiere-1\",\"region\":\"us-east\",\"type\":\"EVENT_HEARTBEAT\",\"timestamp_ms\":\"$now_ms\"},
 {\"event_id\":\"e-2\",\"session_id\":\"$sid2\",\"user_id\":\"u-1\",\"content_id\":\"premiere-1\",\"region\":\"us-east\",\"type\":\"EVENT_HEARTBEAT\",\"timestamp_ms\":\"$(( now_ms - 86400000 ))\"}]}"
call POST $A/v1/events "$viewer" "$(echo "$events" | tr -d '\n')"
expect 200 "an event batch"
grep -q '"results":\[{"ok":true.*},{"ok":false,"status":400' <<< "$body" || fail "event results: $body"
grep -q '"stored":1' <<< "$body" || fail "events stored: $body"
call POST $A/v1/events "$viewer" "$(echo "$events" | tr -d '\n')"
expect 200 "the same event batch again"
grep -q '"duplicate":true' <<< "$body" || fail "a resent batch stored again: $body"
call POST $A/v1/events "$viewer2" "$(echo "$events" | sed 's/"sequence":"1"/"sequence":"2"/' | tr -d '\n')"
expect 200 "another user's events"
grep -q '"stored":0' <<< "$body" && grep -q '"status":403' <<< "$body" || fail "another user's events: $body"
printf 'producer_id: "edge-9" sequence: 1 events { event_id: "p-1" session_id: "s" user_id: "u-1" content_id: "premiere-1" region: "us-east" type: EVENT_START timestamp_ms: %s startup_ms: 800 }\n' "$now_ms" \
  | protoc --encode=streamverse.v1.EventBatch -I "$repo/actors/analytics" "$repo/actors/analytics/analytics.proto" \
  > "$tmp/ev.bin" || fail "protoc --encode events"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $ops" \
  -H 'Content-Type: application/x-protobuf' --data-binary "@$tmp/ev.bin" $A/v1/events)
[ "$code" = 200 ] && grep -q '"stored":1' "$tmp/body" || fail "protobuf events: $code $(cat "$tmp/body")"
call POST $A/v1/events "$viewer" '{"events":[]}'
expect 400 "an event batch without a producer"
echo "batches: heartbeats and events per item, JSON and protobuf, a resend stored once"

# Analytics windows (ops).
call GET "$A/v1/analytics/windows?title=premiere-1&seconds=60" "$ops"
expect 200 "windows"
grep -q '"answered":true' <<< "$body" || fail "windows: $body"
call GET "$A/v1/analytics/windows?title=premiere-1" "$viewer"
expect 403 "windows with a viewer token"
call GET "$A/v1/analytics/windows?seconds=61&title=x" "$ops"
expect 400 "seconds out of range"

# Bad input: the status, a problem body, and nothing changed.
version_now() { "$ctl" metadata get --node 127.0.0.1:17341 --id premiere-1 2>/dev/null \
  | sed -n 's/.*"version":"\([0-9]*\)".*/\1/p'; }
before=$(version_now)
call PUT $A/v1/titles/premiere-1 "$cms" '{"id":"premiere-1","title":' 'If-Match: *'
expect 400 "malformed JSON"
call PUT $A/v1/titles/premiere-1 "$cms" '{"id":"premiere-1","duration_s":"long"}' 'If-Match: *'
expect 400 "a wrong type"
call PUT $A/v1/titles/premiere-1 "$cms" '{"id":"premiere-1","colour":"red"}' 'If-Match: *'
expect 400 "an unknown field"
call PUT $A/v1/titles/premiere-1 "$cms" '{"id":"other"}' 'If-Match: *'
expect 400 "an id that is not the path's"
call PUT $A/v1/titles/premiere-1 "$viewer" "$title" 'If-Match: *'
expect 403 "a viewer writing a title"
call PUT $A/v1/titles/premiere-1 "$forged" "$title" 'If-Match: *'
expect 401 "a forged token"
grep -q 'Bearer' <<< "$(header www-authenticate)" || fail "401 without WWW-Authenticate"
call PUT $A/v1/titles/premiere-1 "" "$title" 'If-Match: *'
expect 401 "no token"
head -c 1100000 /dev/zero | tr '\0' 'x' > "$tmp/big"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X PUT -H "Authorization: Bearer $cms" \
  -H 'If-Match: *' -H 'Content-Type: application/json' --data-binary "@$tmp/big" \
  $A/v1/titles/premiere-1)
[ "$code" = 413 ] || fail "an oversized body: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' 'y')" \
  -H "Authorization: Bearer $viewer" $A/v1/titles/premiere-1)
[ "$code" = 431 ] || fail "an oversized head: $code"
call_critical POST $A/v1/sessions "$viewer" 'not json'
expect 400 "an open with malformed JSON"
call_critical POST $A/v1/sessions "$viewer" '{"title":"premiere-1","device":"tv","tier":9}'
expect 400 "a tier out of range"
call DELETE $A/v1/titles/premiere-1 "$cms"
expect 405 "DELETE on a title"
grep -q 'GET, PUT' <<< "$(header allow)" || fail "405 without Allow: $headers"
call GET $A/v1/nope "$viewer"
expect 404 "an unknown path"
call GET $A/v1/titles/premiere-1 "$expired"
expect 401 "an expired token"
grep -q 'expired' <<< "$body" || fail "expired token: $body"
[ "$(version_now)" = "$before" ] || fail "bad input changed the title: $before -> $(version_now)"
echo "bad input: 400/401/403/405/413/431 with problem bodies, the title unchanged at v$before"

# SIGTERM: node-b drains its API (no new connections) before it leaves the cluster, and
# exits cleanly; node-a goes on serving.
kill -TERM "$pid_b"
for _ in $(seq 150); do kill -0 "$pid_b" 2> /dev/null || break; sleep 0.1; done
kill -0 "$pid_b" 2> /dev/null && fail "node-b still runs 15 s after SIGTERM"
wait "$pid_b"
rc=$?
[ $rc = 0 ] || fail "node-b exited with $rc after SIGTERM"
drain_at=$(grep -n 'player API: draining' "$tmp/node-b.log" | head -1 | cut -d: -f1)
leave_at=$(grep -n 'leaving the cluster' "$tmp/node-b.log" | head -1 | cut -d: -f1)
[ -n "$drain_at" ] && [ -n "$leave_at" ] && [ "$drain_at" -lt "$leave_at" ] \
  || fail "node-b did not drain its API before leaving (lines $drain_at, $leave_at)"
code=$(curl -s -o /dev/null -w '%{http_code}' $B/healthz)
[ "$code" = 000 ] || fail "node-b's API still answers after its stop: $code"
call GET $A/v1/titles/premiere-1 "$viewer"
expect 200 "node-a after node-b's stop"
echo "SIGTERM: node-b drained its API, then left, exit 0; node-a serves on"
echo "PASS"
