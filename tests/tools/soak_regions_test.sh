#!/usr/bin/env bash
# streamverse-soak across emulated regions (config/soak/regions-short.toml): six nodes in
# three regions reach each other only through WAN relays with the regions' RTTs; a jitter
# burst, a region cut off, a region killed. Every invariant passes; the nodes were started
# with their regions and relays; the cut was real (relays refused connections, node-a saw
# both ap-south nodes down) and WAN latency with jitter marked no healthy node down before
# it; viewers open in their own region and fail over to another only while theirs is down;
# under the closing 3x spike the orchestrator grows every region from two nodes to four and
# back down (graceful leaves, nothing acknowledged lost: the soak's invariants).
# Bounded: about 100 s of phases, the test's limit 300 s.
set -uo pipefail
soak=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/soak_failed.sh"
fail() { soak_fail regions "$@"; }

"$soak" --scenario "$repo/config/soak/regions-short.toml" --report "$tmp/report" --quiet \
  > "$tmp/out.txt" 2>&1
rc=$?
cat "$tmp/out.txt"
[ $rc -eq 0 ] || fail "the regions soak did not pass (exit $rc)"
grep -q '"passed": true' "$tmp/report/report.json" || fail "report.json does not say passed"
grep -q 'linked through 132 WAN relays' "$tmp/out.txt" || fail "the nodes were not linked through relays"

nodes=$tmp/report/nodes
# Nodes a-d are eu-west, e-h us-east, i-l ap-south; each region runs its first two.
grep -q '^region = "ap-south"' "$nodes/node-i.toml" || fail "node-i.toml has no region"
grep -q '^dial_via = { "127.0.0.1:7361" = "127.0.0.1:[0-9]*"' "$nodes/node-i.toml" \
  || fail "node-i.toml does not dial node-a through a relay"

note=$(grep 'WAN relays: 132' "$tmp/report/report.md") || fail "no relay note in report.md"
refused=$(echo "$note" | sed -n 's/.* \([0-9]*\) refused while cut.*/\1/p')
[ "${refused:-0}" -gt 0 ] || fail "no connection was refused while ap-south was cut: $note"

# The first member node-a saw down is in ap-south (the cut), not one of the healthy nodes
# across 80-230 ms links with jitter (the remote thresholds hold).
first_down=$(grep -o 'member node-[b-l] is down' "$nodes/node-a.log" | head -1)
case "$first_down" in
  *node-i*|*node-j*) ;;
  *) fail "node-a's first down member is not in ap-south: '$first_down'" ;;
esac
for n in node-i node-j; do
  grep -q "member $n is down" "$nodes/node-a.log" || fail "node-a never saw $n down during the cut"
done
# Viewers open on nodes of their own region; only while us-east is down do its viewers
# fail over to another region.
away=$(grep -o '"name":"[a-z0-9-]*","samples[^}]*}' "$tmp/report/driver-load.json" \
  | sed -n 's/"name":"\([^"]*\)".*"opens_away":\([0-9]*\).*/\1 \2/p')
echo "opens outside the viewer's region, per phase:" $away
echo "$away" | grep -q '^ramp 0$' || fail "viewers opened outside their region in the ramp: $away"
echo "$away" | grep -q '^us-east-killed [1-9]' || fail "no viewer failed over while us-east was down: $away"
echo "$away" | awk '$1 != "us-east-killed" && $2 != 0 { bad = 1 } END { exit bad }' \
  || fail "viewers opened outside their region outside the region kill: $away"
# Autoscale per region: each region went from 2 nodes to 4 and stopped nodes again after
# its peak (the check's detail reads "eu-west 2 -> 4 -> 2, ..."), by starts and graceful
# leaves of the controller.
scaled=$(grep -o 'autoscale: nodes started under load[^|]*|[^|]*|[^|]*' "$tmp/report/report.md")
echo "$scaled"
for r in eu-west us-east ap-south; do
  echo "$scaled" | grep -q "$r 2 -> 4 -> " || fail "$r did not grow from 2 nodes to 4: $scaled"
done
echo "$scaled" | grep -q '| pass' || fail "the autoscale check did not pass: $scaled"
grep -q "autoscale: ap-south at [0-9]* s: leave node-" "$tmp/report/report.md" \
  || fail "no graceful leave in ap-south"
if pgrep -f "$nodes" > /dev/null; then
  fail "a node process was left behind"
fi
echo "PASS soak across three emulated regions"
