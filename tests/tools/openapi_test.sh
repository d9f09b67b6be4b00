#!/usr/bin/env bash
# docs/openapi.yaml is valid OpenAPI (checked by @apidevtools/swagger-parser, installed by
# tools/install-deps into tools/npm/) and documents exactly the operations the API serves
# (actors/api/routes.cpp).
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
command -v node > /dev/null || { echo "FAIL node is not installed (tools/install-deps)"; exit 1; }
[ -d "$repo/tools/npm/node_modules/@apidevtools/swagger-parser" ] \
  || { echo "FAIL @apidevtools/swagger-parser is not installed in tools/npm (tools/install-deps)"; exit 1; }
NODE_PATH="$repo/tools/npm/node_modules" node "$repo/tests/tools/openapi_check.js" \
  "$repo/docs/openapi.yaml" \
  "GET /healthz" "GET /readyz" "POST /v1/sessions" "POST /v1/sessions/{id}/heartbeat" \
  "POST /v1/sessions/{id}/commands" "DELETE /v1/sessions/{id}" "GET /v1/titles/{id}" \
  "PUT /v1/titles/{id}" "GET /v1/titles/{id}/master.m3u8" \
  "GET /v1/users/{user}/positions/{title}" "GET /v1/analytics/windows" \
  "POST /v1/heartbeats" "POST /v1/events"
