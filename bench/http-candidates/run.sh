#!/bin/bash
# The HTTP library candidates for issue #17, measured against nginx in the same run: each
# serves "200 ok" to GET / on 127.0.0.1 with one server thread (nginx: one worker), and
# the "-hop" variants answer every request from another thread, as an actor's reply
# would come back. wrk drives each in turn (1 thread, 64 keep-alive connections), rounds
# alternate, and the last line is JSON: medians of requests/s and p99, and each
# candidate's median requests/s over nginx's.
#
#   bench/http-candidates/run.sh [ROUNDS=3] [SECONDS=10]
#
# Needs (Debian 12): wrk nginx-light libboost1.74-dev libmicrohttpd-dev libcpp-httplib-dev.
# Not part of the build: the project depends on none of these until #17 picks one.
set -euo pipefail
rounds=${1:-3}
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
for c in wrk nginx g++ pkg-config python3; do
  command -v "$c" >/dev/null || { echo "run.sh: $c is missing (apt-get install wrk nginx-light ...)" >&2; exit 2; }
done
for p in libmicrohttpd cpp-httplib; do
  pkg-config --exists "$p" || { echo "run.sh: $p is missing (apt-get install libmicrohttpd-dev libcpp-httplib-dev)" >&2; exit 2; }
done
[ -f /usr/include/boost/beast.hpp ] || { echo "run.sh: Boost.Beast is missing (apt-get install libboost1.74-dev)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sv-http-candidates.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
g++ -O2 -std=c++17 -pthread "$here/beast_server.cpp" -o "$work/beast_server"
g++ -O2 -std=c++17 -pthread "$here/mhd_server.cpp" -o "$work/mhd_server" -lmicrohttpd
g++ -O2 -std=c++17 -pthread $(pkg-config --cflags cpp-httplib) "$here/httplib_server.cpp" \
  -o "$work/httplib_server" $(pkg-config --libs cpp-httplib)
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $work/nginx-error.log;
pid $work/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:18080;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
CONF

servers=(nginx beast beast-hop mhd mhd-hop httplib)
start() {
  case $1 in
  nginx) nginx -c "$work/nginx.conf" -p "$work" >/dev/null 2>&1 & ;;
  beast) "$work/beast_server" 18081 >/dev/null 2>&1 & ;;
  beast-hop) "$work/beast_server" 18081 hop >/dev/null 2>&1 & ;;
  mhd) "$work/mhd_server" 18082 >/dev/null 2>&1 & ;;
  mhd-hop) "$work/mhd_server" 18082 hop >/dev/null 2>&1 & ;;
  httplib) "$work/httplib_server" 18083 >/dev/null 2>&1 & ;;
  esac
  echo $!
}
port() { case $1 in nginx) echo 18080 ;; beast*) echo 18081 ;; mhd*) echo 18082 ;; httplib) echo 18083 ;; esac; }

: > "$work/results"
for r in $(seq 1 "$rounds"); do
  for s in "${servers[@]}"; do
    pid=$(start "$s")
    pids+=("$pid")
    sleep 1
    out=$(timeout $((secs + 20)) wrk -t1 -c64 -d"${secs}s" --latency "http://127.0.0.1:$(port "$s")/" 2>&1 || true)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}')
    pipelined=$(python3 "$here/pipeline_check.py" "$(port "$s")" 2>/dev/null | awk 'NR==1 {print $2}')
    echo "round $r $s: ${rps:-0} req/s, p99 ${p99:-0} ms, pipelined answers ${pipelined:-0}/3" >&2
    echo "$s ${rps:-0} ${p99:-0} ${pipelined:-0}" >> "$work/results"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sleep 0.5
  done
done
python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
out = {}
for name in dict.fromkeys(r[0] for r in rows):
    mine = [r for r in rows if r[0] == name]
    out[name] = {"rps_median": statistics.median(float(r[1]) for r in mine),
                 "p99_ms_median": statistics.median(float(r[2]) for r in mine),
                 "pipelined_of_3": min(int(r[3]) for r in mine)}
floor = out.get("nginx", {}).get("rps_median", 0) or 1
for name, v in out.items():
    v["rps_over_nginx"] = round(v["rps_median"] / floor, 3)
print(json.dumps({"bench": "http-candidates", "rounds": len(rows) // len(out), "servers": out}))
PY
