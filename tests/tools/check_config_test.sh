#!/usr/bin/env bash
# streamverse-node --check-config: every kind of bad input exits 2 with one line that
# names FILE:LINE and the key; the shipped example configs pass.
# Usage: check_config_test.sh NODE_BINARY REPO_ROOT
set -uo pipefail
node=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passed=0

# expect_refusal NAME EXPECTED_PREFIX TOML
expect_refusal() {
  local name=$1 expected=$2 text=$3
  local file="$tmp/$name.toml"
  printf '%s\n' "$text" > "$file"
  local out rc
  out=$("$node" --check-config "$file" 2>&1)
  rc=$?
  local lines
  lines=$(printf '%s\n' "$out" | wc -l)
  if [ $rc -ne 2 ] || [[ "$out" != "streamverse-node: $file:$expected"* ]] || [ "$lines" -ne 1 ]; then
    echo "FAIL $name: rc=$rc lines=$lines output: $out (wanted $file:$expected...)"
    failures=$((failures + 1))
  else
    echo "ok   $name: $out"
    passed=$((passed + 1))
  fi
}

expect_refusal syntax_error "2: TOML syntax error" $'[node]\nname = "a\n'
expect_refusal unknown_key "3: cluster.prot: unknown key" $'[cluster]\nport = 7100\nprot = 7101'
expect_refusal unknown_section "1: clutser: unknown key" $'[clutser]\nport = 1'
expect_refusal wrong_type "2: cluster.port: expected an integer, got a string" $'[cluster]\nport = "7100"'
expect_refusal port_too_big "2: cluster.port: 70000 is out of range (0..65535)" $'[cluster]\nport = 70000'
expect_refusal port_negative "2: metrics.port: -1 is out of range (0..65535)" $'[metrics]\nport = -1'
expect_refusal bad_seed "2: cluster.seeds: entry 1: \"nohost\" is not host:port" $'[cluster]\nseeds = ["127.0.0.1:7101", "nohost"]'
expect_refusal seed_port "2: cluster.seeds: entry 0: \"a:99999\": port 99999 is out of range" $'[cluster]\nseeds = ["a:99999"]'
expect_refusal bad_level "2: log.level: \"loud\" is not one of" $'[log]\nlevel = "loud"'

# A missing file: no line to name, still exit 2 and one line.
out=$("$node" --check-config "$tmp/absent.toml" 2>&1)
rc=$?
if [ $rc -eq 2 ] && [[ "$out" == "streamverse-node: $tmp/absent.toml: cannot read config file"* ]]; then
  echo "ok   missing_file: $out"
  passed=$((passed + 1))
else
  echo "FAIL missing_file: rc=$rc output: $out"
  failures=$((failures + 1))
fi

# Bad usage is exit 2 as well.
"$node" --bogus >/dev/null 2>&1
if [ $? -eq 2 ]; then passed=$((passed + 1)); else echo "FAIL usage"; failures=$((failures + 1)); fi

# Every shipped example is valid (config/soak/ holds soak scenarios, checked by soak_test.sh).
for f in "$root"/config/*.toml "$root"/config/*/*.toml; do
  [[ "$f" == */config/soak/* ]] && continue
  if "$node" --check-config "$f" >/dev/null; then
    passed=$((passed + 1))
  else
    echo "FAIL example $f is refused"
    failures=$((failures + 1))
  fi
done

# --config with a bad file starts nothing: it exits 2 at once.
printf '[cluster]\nport = "x"\n' > "$tmp/bad.toml"
timeout 10 "$node" --config "$tmp/bad.toml" >/dev/null 2>&1
if [ $? -eq 2 ]; then passed=$((passed + 1)); else echo "FAIL --config bad"; failures=$((failures + 1)); fi

echo "$passed passed, $failures failed"
[ $failures -eq 0 ]
