-- wrk: POST /v1/events batches (bulk work) of 50 events each, numbered per thread;
-- done() prints the answers by status class (429: refused by the node's flow gate).
local token = os.getenv("SV_TOKEN")
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  seq = 0
  ok, refused, other = 0, 0, 0
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
  if status == 200 then
    ok = ok + 1
  elseif status == 429 or status == 503 then
    refused = refused + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, r, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("ok")
    r = r + t:get("refused")
    o = o + t:get("other")
  end
  io.write(string.format("SV ok %d refused %d other %d\n", a, r, o))
end
