#!/usr/bin/env bash
# streamverse-soak as a user runs it: the short scenario (config/soak/short.toml: a node
# joining under load, a spike, a node killed and restarted, a node stopped, a metadata
# storm, the joined node leaving by SIGTERM) passes every invariant and
# leaves a report with its plots; a bad scenario is refused with exit code 2 and the reason;
# no node process is left behind. Bounded: the scenario is about 82 s, the test's limit 300 s.
set -uo pipefail
soak=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; exit 1; }

# Every shipped scenario is valid.
for f in "$repo"/config/soak/*.toml; do
  "$soak" --check --scenario "$f" || fail "scenario $f is refused"
done

# A bad scenario: refused before anything starts.
printf 'name = "bad"\n[[phase]]\nkind = "meltdown"\nseconds = 5\n' > "$tmp/bad.toml"
out=$("$soak" --scenario "$tmp/bad.toml" --report "$tmp/bad" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "bad scenario: exit $rc, want 2 ($out)"
echo "$out" | grep -q 'unknown kind "meltdown"' || fail "bad scenario: no reason given: $out"

"$soak" --scenario "$repo/config/soak/short.toml" --report "$tmp/report" --quiet > "$tmp/out.txt" 2>&1
rc=$?
cat "$tmp/out.txt"
[ $rc -eq 0 ] || fail "the short soak did not pass (exit $rc)"
grep -q '"passed": true' "$tmp/report/report.json" || fail "report.json does not say passed"
for check in "exactly once" "converged" "older than its fence" "critical p99" "overloaded" \
             "node that left handed" "resume position a close acknowledged"; do
  grep -q "| pass |" <(grep "$check" "$tmp/report/report.md") || fail "report.md: no passing row for '$check'"
done
# node-d joined under load and left again by SIGTERM.
grep -q '^| node-d-joins | join |' "$tmp/report/report.md" || fail "report.md: no join phase row"
grep -q -- '- node-d left in' "$tmp/report/report.md" || fail "report.md: node-d's leave not noted"
rows=$(grep -c . "$tmp/report/timeline.tsv")
[ "$rows" -ge 40 ] || fail "timeline.tsv has $rows rows, want one per second"
if command -v gnuplot > /dev/null; then
  for png in critical-latency degrader-level shed-by-class propagation events-per-second sessions; do
    [ -s "$tmp/report/$png.png" ] || fail "$png.png missing"
  done
fi
if pgrep -f "$tmp/report/nodes" > /dev/null; then
  fail "a node process was left behind"
fi
echo "PASS soak short scenario"
