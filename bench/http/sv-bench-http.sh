#!/usr/bin/env bash
# sv-bench-http: the player API driven by wrk (Lua scripts beside this file), against
# nginx serving a static 200 on the same machine in the same run (the HTTP floor here).
#
#   build/bin/sv-bench-http [--rounds R=3] [--seconds S=10] [--connections C=64]
#
# Each round, in turn: nginx (one worker: `return 200`); one node (streamverse-node with
# [http], one HTTP thread): opens/s, heartbeats/s (POST /v1/sessions/{id}/heartbeat,
# every feature on: token check, flow gate, JSON, the session's actor), playlist GETs/s
# (cache hits), heartbeat p99 at 80% of the round's heartbeat rate (wrk's delay() paces
# each connection), and an overload: heartbeats from 4x the connections unpaced plus
# event batches (bulk) at once; then three nodes, heartbeats to each at once. The last
# line is JSON: medians over the rounds, and heartbeats/s over nginx's requests/s.
# Needs wrk, nginx (nginx-light) and curl: tools/install-deps --bench installs them.
set -euo pipefail
rounds=3
secs=10
conns=64
while [ $# -gt 0 ]; do
  case $1 in
  --rounds) rounds=$2; shift 2 ;;
  --seconds) secs=$2; shift 2 ;;
  --connections) conns=$2; shift 2 ;;
  *) echo "usage: sv-bench-http [--rounds R] [--seconds S] [--connections C]" >&2; exit 2 ;;
  esac
done
bin=$(cd "$(dirname "$0")" && pwd)
lua=@SV_BENCH_HTTP_DIR@
for c in wrk curl; do
  command -v $c > /dev/null || { echo "sv-bench-http: $c is missing (tools/install-deps --bench)" >&2; exit 2; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "sv-bench-http: nginx is missing (tools/install-deps --bench)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sv-bench-http.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2> /dev/null || true; done
  [ -n "${SV_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
printf '%s\n' "sv-bench-http-key-0123456789-0123456789" > "$work/jwt.key"
token() { "$bin/streamverse-ctl" token --key-file "$work/jwt.key" --user "$1" --scope "$2" --ttl-s 86400; }
viewer=$(token bench-viewer viewer)
cms=$(token bench-cms cms)
ops=$(token bench-ops "viewer ops")

cat > "$work/nginx.conf" << CONF
worker_processes 1;
daemon off;
error_log $work/nginx-error.log;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:17480;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
CONF

node_config() { # NAME INDEX SEEDS
  cat > "$work/$1.toml" << TOML
[node]
name = "$1"
data_dir = "$work/data-$1"
[cluster]
bind = "127.0.0.1"
port = $((17460 + $2))
seeds = [$3]
seed_retry_ms = 100
gossip_interval_ms = 200
[log]
level = "warn"
status_interval_ms = 0
[http]
port = $((17470 + $2))
token_key_file = "$work/jwt.key"
max_connections = 8192
TOML
}
start_node() { # NAME: sets last_pid
  "$bin/streamverse-node" --config "$work/$1.toml" >> "$work/$1.log" 2>&1 &
  last_pid=$!
  pids+=($last_pid)
}
wait_ready() { # HTTP_PORT
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
    sleep 0.05
  done
  echo "sv-bench-http: the node on $1 did not become ready" >&2
  exit 1
}
put_title() { # HTTP_PORT
  local body
  body=$(tr -d '\n' < "$lua/../../config/examples/premiere.json")
  for _ in $(seq 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $cms" \
      -H 'If-Match: *' -H 'Content-Type: application/json' --data-binary "$body" \
      "http://127.0.0.1:$1/v1/titles/premiere-1")
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "sv-bench-http: cannot store the title ($code)" >&2
  exit 1
}
# wrk_run OUT ARGS...: wrk with --latency into OUT; prints "rps p99_ms".
wrk_run() {
  local out=$1
  shift
  timeout $((secs + 60)) wrk --latency "$@" > "$out" 2>&1 || true
  awk '/Requests\/sec/ {rps = $2}
       $1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v = v / 1000}
                    else if (v ~ /ms$/) {sub(/ms$/, "", v)}
                    else if (v ~ /s$/) {sub(/s$/, "", v); v = v * 1000}; p99 = v}
       END {printf "%s %s\n", rps + 0, p99 + 0}' "$out"
}
sv_count() { # OUT FIELD -> the number after FIELD on wrk's "SV ..." line
  awk -v f="$2" '$1 == "SV" {for (i = 2; i < NF; i++) if ($i == f) print $(i + 1)}' "$1" | tail -1
}

: > "$work/results"
for r in $(seq 1 "$rounds"); do
  # The floor: nginx.
  "$nginx_bin" -c "$work/nginx.conf" -p "$work" > /dev/null 2>&1 &
  ng=$!
  pids+=($ng)
  sleep 0.5
  read -r ng_rps ng_p99 < <(wrk_run "$work/wrk-nginx.txt" -t1 -c"$conns" -d"${secs}s" http://127.0.0.1:17480/)
  kill "$ng" 2> /dev/null || true
  wait "$ng" 2> /dev/null || true

  # One node.
  rm -rf "$work"/data-*
  node_config node-a 1 ''
  start_node node-a
  na=$last_pid
  wait_ready 17471
  put_title 17471
  A=http://127.0.0.1:17471
  read -r open_rps _ < <(SV_TOKEN=$viewer SV_TITLE=premiere-1 SV_REGION=eu-west SV_IDS=$work/ids-a \
    wrk_run "$work/wrk-open.txt" -t1 -c"$conns" -d"$((secs / 2 > 0 ? secs / 2 : 1))s" -s "$lua/open.lua" "$A")
  read -r hb_rps hb_p99 < <(SV_TOKEN=$viewer SV_IDS=$work/ids-a \
    wrk_run "$work/wrk-hb.txt" -t1 -c"$conns" -d"${secs}s" -s "$lua/heartbeat.lua" "$A")
  hb_ok=$(sv_count "$work/wrk-hb.txt" ok)
  hb_other=$(sv_count "$work/wrk-hb.txt" other)
  read -r pl_rps pl_p99 < <(SV_TOKEN=$viewer SV_PATH="/v1/titles/premiere-1/master.m3u8?device=tv" \
    wrk_run "$work/wrk-pl.txt" -t1 -c"$conns" -d"${secs}s" -s "$lua/get.lua" "$A")
  # 80% of this round's heartbeat rate, paced: 4x the connections, each waiting between
  # requests; a 2 s probe measures the rate the first delay gives, and the delay is then
  # corrected by the difference in each connection's period (delay + latency).
  pc=$((conns * 4))
  want=$(awk -v r="$hb_rps" 'BEGIN {print 0.8 * r}')
  delay=$(awk -v c="$pc" -v w="$want" 'BEGIN {d = (w > 0) ? c * 1000 / w : 1000; printf "%d", (d < 1) ? 1 : d}')
  read -r probe_rps _ < <(SV_TOKEN=$viewer SV_IDS=$work/ids-a SV_DELAY_MS=$delay \
    wrk_run "$work/wrk-probe.txt" -t1 -c"$pc" -d2s -s "$lua/heartbeat.lua" "$A")
  delay=$(awk -v d="$delay" -v c="$pc" -v w="$want" -v g="$probe_rps" \
    'BEGIN {n = (g > 0 && w > 0) ? d + c * 1000 / w - c * 1000 / g : d; printf "%d", (n < 1) ? 1 : n + 0.5}')
  read -r p80_rps p80_p99 < <(SV_TOKEN=$viewer SV_IDS=$work/ids-a SV_DELAY_MS=$delay \
    wrk_run "$work/wrk-hb80.txt" -t1 -c"$pc" -d"${secs}s" -s "$lua/heartbeat.lua" "$A")
  # Overload: 4x the connections of heartbeats, unpaced, with bulk event batches at once.
  SV_TOKEN=$ops wrk_run "$work/wrk-ev.txt" -t1 -c16 -d"${secs}s" -s "$lua/events.lua" "$A" > "$work/ev.res" &
  evp=$!
  read -r ov_rps ov_p99 < <(SV_TOKEN=$viewer SV_IDS=$work/ids-a \
    wrk_run "$work/wrk-hbov.txt" -t1 -c"$((conns * 4))" -d"${secs}s" -s "$lua/heartbeat.lua" "$A")
  wait $evp || true
  ov_refused=$(sv_count "$work/wrk-hbov.txt" refused)
  ev_ok=$(sv_count "$work/wrk-ev.txt" ok)
  ev_refused=$(sv_count "$work/wrk-ev.txt" refused)
  kill -TERM "$na" 2> /dev/null || true
  wait "$na" 2> /dev/null || true

  # Three nodes: heartbeats to each at once.
  rm -rf "$work"/data-*
  node_config node-a 1 ''
  node_config node-b 2 '"127.0.0.1:17461"'
  node_config node-c 3 '"127.0.0.1:17461"'
  n3=()
  for n in node-a node-b node-c; do
    start_node $n
    n3+=($last_pid)
  done
  for p in 17471 17472 17473; do wait_ready $p; done
  sleep 1 # the members see each other
  put_title 17471
  for i in 1 2 3; do
    SV_TOKEN=$viewer SV_TITLE=premiere-1 SV_REGION=eu-west SV_IDS=$work/ids-$i \
      wrk_run "$work/wrk-open$i.txt" -t1 -c16 -d2s -s "$lua/open.lua" "http://127.0.0.1:$((17470 + i))" > /dev/null
  done
  w3=()
  for i in 1 2 3; do
    SV_TOKEN=$viewer SV_IDS=$work/ids-$i wrk_run "$work/wrk-hb3-$i.txt" -t1 -c"$((conns / 2))" -d"${secs}s" \
      -s "$lua/heartbeat.lua" "http://127.0.0.1:$((17470 + i))" > "$work/hb3-$i.res" &
    w3+=($!)
  done
  for p in "${w3[@]}"; do wait "$p" || true; done
  hb3=$(cat "$work"/hb3-*.res | awk '{s += $1; if ($2 > p) p = $2} END {printf "%s %s", s, p}')
  for p in "${n3[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${n3[@]}"; do wait "$p" 2> /dev/null || true; done

  echo "round $r: nginx $ng_rps/s p99 $ng_p99 ms; heartbeats $hb_rps/s p99 $hb_p99 ms" \
       "(ok $hb_ok, other $hb_other); opens $open_rps/s; playlists $pl_rps/s p99 $pl_p99 ms;" \
       "at 80% ($p80_rps/s) p99 $p80_p99 ms; overload: heartbeats $ov_rps/s p99 $ov_p99 ms" \
       "(refused $ov_refused), events ok $ev_ok refused $ev_refused; 3 nodes: $hb3" >&2
  echo "$ng_rps $ng_p99 $hb_rps $hb_p99 $open_rps $pl_rps $pl_p99 $p80_rps $p80_p99 $ov_rps $ov_p99 ${ov_refused:-0} ${ev_ok:-0} ${ev_refused:-0} $hb3 ${hb_other:-0}" >> "$work/results"
done

# Medians over the rounds, column by column.
median() { # COLUMN
  awk -v c="$1" '{print $c}' "$work/results" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ng=$(median 1)
hb=$(median 3)
ratio=$(awk -v a="$hb" -v b="$ng" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}')
printf '{"rounds":%d,"seconds":%d,"connections":%d,"nginx_rps":%s,"nginx_p99_ms":%s,' "$rounds" "$secs" "$conns" "$ng" "$(median 2)"
printf '"heartbeat_rps":%s,"heartbeat_p99_ms":%s,"heartbeat_over_nginx":%s,' "$hb" "$(median 4)" "$ratio"
printf '"open_rps":%s,"playlist_rps":%s,"playlist_p99_ms":%s,' "$(median 5)" "$(median 6)" "$(median 7)"
printf '"at_80pct_rps":%s,"at_80pct_p99_ms":%s,' "$(median 8)" "$(median 9)"
printf '"overload_heartbeat_rps":%s,"overload_heartbeat_p99_ms":%s,"overload_heartbeats_refused":%s,' "$(median 10)" "$(median 11)" "$(median 12)"
printf '"overload_events_ok":%s,"overload_events_refused":%s,' "$(median 13)" "$(median 14)"
printf '"three_nodes_heartbeat_rps":%s,"three_nodes_worst_p99_ms":%s,"heartbeat_errors":%s}\n' "$(median 15)" "$(median 16)" "$(median 17)"
