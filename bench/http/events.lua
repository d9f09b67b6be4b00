-- wrk: POST /v1/events batches (bulk work) of 50 events each, numbered per thread;
-- done() prints the answers by outcome (tally.lua; refused: 429 from the flow gate).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tally.lua")
local token = os.getenv("SV_TOKEN")

function init(args)
  seq = 0
  init_tally()
end

function request()
  seq = seq + 1
  local now = os.time() * 1000
  local ev = {}
  for i = 1, 50 do
    ev[i] = string.format('{"event_id":"b%d-%d-%d","session_id":"s%d","user_id":"bench",' ..
      '"content_id":"bench-title","region":"eu-west","type":"EVENT_HEARTBEAT",' ..
      '"timestamp_ms":"%d","watched_ms":2000}', tid, seq, i, i, now)
  end
  local body = string.format('{"producer_id":"bench-%d","sequence":"%d","events":[%s]}',
                             tid, seq, table.concat(ev, ","))
  return wrk.format("POST", "/v1/events",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  tally(status, body)
end
