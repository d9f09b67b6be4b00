#!/usr/bin/env bash
# The master playlists StreamVerse writes, parsed by a real HLS parser: the m3u8-parser npm
# package (installed by tools/install-deps into tools/npm/). Usage: hls_parser_test.sh
# MEDIA_TEST_BINARY
set -uo pipefail
test_bin=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v node > /dev/null || { echo "FAIL node is not installed (tools/install-deps)"; exit 1; }
[ -d "$repo/tools/npm/node_modules/m3u8-parser" ] \
  || { echo "FAIL m3u8-parser is not installed in tools/npm (tools/install-deps)"; exit 1; }
cd "$tmp" && "$test_bin" -tc="sample playlists*" > /dev/null || { echo "FAIL writing samples"; exit 1; }
NODE_PATH="$repo/tools/npm/node_modules" node "$repo/tests/tools/hls_check.js" hls_test_data/*.m3u8
