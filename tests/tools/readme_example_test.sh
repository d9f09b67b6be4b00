#!/usr/bin/env bash
# README.md shows tests/examples/readme_example_test.cpp verbatim; fail when they differ.
# Usage: readme_example_test.sh README.md EXAMPLE_FILE
set -uo pipefail
readme=$1
example=$2
marker="<!-- example: tests/examples/readme_example_test.cpp -->"
shown=$(awk -v m="$marker" '
  $0 == m { found = 1; next }
  found == 1 && /^```/ { if (inblock) exit; inblock = 1; next }
  inblock { print }' "$readme")
if [ -z "$shown" ]; then
  echo "FAIL README.md has no example block after: $marker"
  exit 1
fi
if ! diff <(printf '%s\n' "$shown") "$example"; then
  echo "FAIL the README example differs from $example (diff above)"
  exit 1
fi
echo "README example matches $example ($(wc -l < "$example") lines)"
