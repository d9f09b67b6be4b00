# Sourced by the soak test scripts: `soak_fail NAME MESSAGE` keeps a failed run's report and
# output ($tmp/report, $tmp/out.txt; the report's notes list the unaccounted requests'
# errors) in a directory of its own, names it in the FAIL line, and exits 1.
soak_fail() {
  local name=$1
  shift
  local keep
  keep=$(mktemp -d "${TMPDIR:-/tmp}/sv-soak-$name-failed.XXXXXX")
  cp -r "$tmp/report" "$tmp/out.txt" "$keep/" 2>/dev/null
  echo "FAIL $* (report kept in $keep)"
  exit 1
}
