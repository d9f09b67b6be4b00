#!/usr/bin/env bash
# The chaos soak's short variant (config/soak/chaos-short.toml, issue #18): five faults from
# a seeded random schedule (WAN delay, a full disk, a kill, a stall, a partition) pass every
# invariant of the
# report, which is the checker (acknowledged events in history exactly once, replicas
# converged, no stale cache read, every request answered, recovery after each fault); the
# schedule the run followed is the one `--check` lists for that seed, and another seed
# gives another one. Bounded: the scenario is about 90 s, the test's limit 300 s.
set -uo pipefail
soak=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; exit 1; }
scenario="$repo/config/soak/chaos-short.toml"

schedule() { "$soak" --check --scenario "$1" | awk 'NR > 1 {print $3}'; }
schedule "$scenario" > "$tmp/schedule.txt" || fail "--check refused the scenario"
[ "$(grep -c '^chaos-0[1-5]-\(kill\|stall\|partition\|wan\|disk_full\)' "$tmp/schedule.txt")" = 5 ] \
  || fail "the schedule does not have five faults: $(cat "$tmp/schedule.txt")"
schedule "$scenario" | cmp -s - "$tmp/schedule.txt" || fail "the same seed gave another schedule"
sed 's/^seed = .*/seed = 99/' "$scenario" > "$tmp/other.toml"
schedule "$tmp/other.toml" | cmp -s - "$tmp/schedule.txt" && fail "another seed gave the same schedule"

"$soak" --scenario "$scenario" --report "$tmp/report" --quiet > "$tmp/out.txt" 2>&1
rc=$?
cat "$tmp/out.txt"
[ $rc -eq 0 ] || fail "the chaos soak did not pass (exit $rc)"
grep -q '"passed": true' "$tmp/report/report.json" || fail "report.json does not say passed"
for check in "exactly once" "converged" "older than its fence" "critical p99" "overloaded" \
             "returns to normal"; do
  grep -q "| pass |" <(grep "$check" "$tmp/report/report.md") || fail "report.md: no passing row for '$check'"
done
# The run followed the listed schedule, phase by phase.
grep -o '^| chaos-[^ ]* ' "$tmp/report/report.md" | sed 's/^| //; s/ $//' > "$tmp/ran.txt"
grep '^chaos-' "$tmp/schedule.txt" | cmp -s - "$tmp/ran.txt" \
  || fail "the report's phases differ from the schedule: $(paste -d' ' "$tmp/schedule.txt" "$tmp/ran.txt")"
grep -q 'chaos: seed 1, 5 faults' "$tmp/report/report.md" || fail "report.md does not give the seed"
if pgrep -f "$tmp/report/nodes" > /dev/null; then
  fail "a node process was left behind"
fi
# The full disk really happened (as root): the node's stores refused writes meanwhile.
if [ "$(id -u)" = 0 ]; then
  grep -q "data directory full for" "$tmp/report/report.md" || fail "the disk_full phase did not run"
  grep -qh "disk is full" "$tmp"/report/nodes/*.log || fail "no store saw its disk full"
fi
echo "PASS chaos soak: $(grep -c '^chaos-0[1-5]-[a-z]*' "$tmp/schedule.txt") faults, every invariant"
