-- wrk: heartbeats (POST /v1/sessions/{id}/heartbeat) round-robin over the sessions listed
-- in SV_IDS; SV_DELAY_MS (optional) paces each connection (a fixed offered rate of
-- connections x 1000 / delay per second). done() prints the answers by outcome (tally.lua).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tally.lua")
local token = os.getenv("SV_TOKEN")
local delay_ms = tonumber(os.getenv("SV_DELAY_MS") or "0")

function init(args)
  ids = {}
  for line in io.lines(os.getenv("SV_IDS")) do
    table.insert(ids, line)
  end
  next_id = math.random(#ids)
  position = 0
  init_tally()
end

function delay()
  return delay_ms
end

function request()
  next_id = next_id % #ids + 1
  position = position + 1000
  return wrk.format("POST", "/v1/sessions/" .. ids[next_id] .. "/heartbeat",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"},
                    '{"position_ms":' .. position .. ',"bitrate_kbps":4500}')
end

function response(status, headers, body)
  tally(status, body)
end
