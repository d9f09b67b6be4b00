#!/usr/bin/env bash
# A stranger's host application: installs this build with `cmake --install` into a scratch
# prefix, builds examples/host-app out of tree against it (find_package(StreamVerse 0.2)),
# starts the installed streamverse-node as the seed, and runs the host app, which joins,
# starts every service with one call, registers an entity type, opens sessions and reads
# analytics. Port 17601. Every wait is bounded.
# Usage: host_app_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1
src=$2
node=unused
source "$(dirname "$0")/node_processes.sh"
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 || fail "cmake --install: $(tail -5 "$tmp/install.log")"
for f in bin/streamverse-node lib/cmake/StreamVerse/StreamVerseConfig.cmake \
         include/streamverse/runtime/node/node.hpp include/streamverse/actors/services/node_services.hpp; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
echo "installed into a scratch prefix: binaries, headers under include/streamverse/, the CMake package"
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$src/examples/host-app" -B "$tmp/host-build" -DCMAKE_PREFIX_PATH="$prefix" \
  "${launcher[@]}" > "$tmp/configure.log" 2>&1 || fail "configure: $(tail -20 "$tmp/configure.log")"
cmake --build "$tmp/host-build" -j2 > "$tmp/build.log" 2>&1 || fail "build: $(tail -30 "$tmp/build.log")"
echo "examples/host-app built out of tree against the installed package"
node=$prefix/bin/streamverse-node
write_config seed 17601 ''
start seed
out=$(timeout 60 "$tmp/host-build/host-app" 127.0.0.1:17601 "$tmp/data/host-app" 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] || fail "host-app exited $rc"
echo "$out" | grep -q '^OK$' || fail "host-app did not finish"
