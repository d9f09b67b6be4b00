#!/usr/bin/env bash
# streamverse-soak with viewers.protocol = "http" (config/soak/http-short.toml): the
# viewers reach their sessions through the nodes' player API, as players and HTTP edge
# servers do, through a spike, a node killed and restarted and a node stopped; every
# invariant passes, and the driver's requests really went over HTTP. Bounded: the scenario
# is about 50 s, the test's limit 300 s.
set -uo pipefail
soak=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; exit 1; }

"$soak" --scenario "$repo/config/soak/http-short.toml" --report "$tmp/report" --quiet > "$tmp/out.txt" 2>&1
rc=$?
cat "$tmp/out.txt"
[ $rc -eq 0 ] || fail "the HTTP soak did not pass (exit $rc)"
grep -q '"passed": true' "$tmp/report/report.json" || fail "report.json does not say passed"
for check in "exactly once" "converged" "older than its fence" "critical p99" "overloaded" \
             "resume position a close acknowledged"; do
  grep -q "| pass |" <(grep "$check" "$tmp/report/report.md") || fail "report.md: no passing row for '$check'"
done
# The sessions went through the API: the driver counted its HTTP requests, and every node
# was configured with [http].
load=$(cat "$tmp/report/driver-load.json")
grep -q '"protocol":"http"' <<< "$load" || fail "driver-load.json: not the http protocol"
requests=$(grep -o '"http_requests":[0-9]*' <<< "$load" | cut -d: -f2)
[ "${requests:-0}" -gt 1000 ] || fail "only ${requests:-0} HTTP requests"
for n in node-a node-b node-c; do
  grep -q '^\[http\]' "$tmp/report/nodes/$n.toml" || fail "$n.toml has no [http]"
done
grep -q 'through the player API' "$tmp/report/report.md" || fail "report.md does not name the player API"
if pgrep -f "$tmp/report/nodes" > /dev/null; then
  fail "a node process was left behind"
fi
echo "PASS soak through the player API ($requests HTTP requests)"
