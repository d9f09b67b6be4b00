#!/usr/bin/env bash
# streamverse-soak --autoscale (config/soak/autoscale-short.toml): the controller is the
# orchestrator. Two of four node slots run at the start; a 3x spike makes the nodes'
# sv_cluster_desired_nodes ask for four, which are started; after the spike the signal
# comes down (after its stabilization window) and the controller SIGTERMs nodes again, each
# handing its analytics batches over before it exits. Every invariant passes, and
# --autoscale without an [autoscale] section is refused. Bounded: about 60 s of phases,
# the test's limit 300 s.
set -uo pipefail
soak=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/soak_failed.sh"
fail() { soak_fail autoscale "$@"; }

out=$("$soak" --autoscale --scenario "$repo/config/soak/short.toml" --report "$tmp/bad" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--autoscale without [autoscale]: exit $rc, want 2 ($out)"
echo "$out" | grep -q 'wants an \[autoscale\] section' || fail "no reason given: $out"

"$soak" --autoscale --scenario "$repo/config/soak/autoscale-short.toml" --report "$tmp/report" \
  --quiet > "$tmp/out.txt" 2>&1
rc=$?
cat "$tmp/out.txt"
[ $rc -eq 0 ] || fail "the autoscale soak did not pass (exit $rc)"
md=$tmp/report/report.md
grep -q '| autoscale: nodes started under load and stopped after it in every region with spare slots | pass |' "$md" \
  || fail "report.md: the autoscale check did not pass"
grep -q '| every node that left handed its analytics batches over | pass |' "$md" \
  || fail "report.md: a node that left kept batches"
starts=$(grep -c -- '- autoscale: cluster at .*: start node-' "$md")
leaves=$(grep -c -- '- autoscale: cluster at .*: leave node-' "$md")
[ "$starts" -ge 2 ] || fail "the orchestrator started $starts nodes under the spike, want 2"
[ "$leaves" -ge 1 ] || fail "the orchestrator stopped no node after the spike"
# The nodes exported the signal the controller followed.
grep -q '^\[scale\]' "$tmp/report/nodes/node-a.toml" || fail "node-a.toml has no [scale]"
if pgrep -f "$tmp/report/nodes" > /dev/null; then
  fail "a node process was left behind"
fi
echo "PASS soak autoscale: $starts started, $leaves stopped"
