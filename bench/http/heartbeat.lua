-- wrk: heartbeats (POST /v1/sessions/{id}/heartbeat) round-robin over the sessions listed
-- in SV_IDS; SV_DELAY_MS (optional) paces each connection (a fixed offered rate of
-- connections x 1000 / delay per second). done() prints the answers by status class.
local token = os.getenv("SV_TOKEN")
local delay_ms = tonumber(os.getenv("SV_DELAY_MS") or "0")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(os.getenv("SV_IDS")) do
    table.insert(ids, line)
  end
  next_id = math.random(#ids)
  position = 0
  ok, refused, other = 0, 0, 0
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
  if status == 200 then
    ok = ok + 1
  elseif status == 429 or status == 503 then
    refused = refused + 1
  else
    other = other + 1
    if other <= 3 then
      io.write("unexpected ", status, " ", body, "\n")
    end
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
