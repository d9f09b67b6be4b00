-- wrk: GET SV_PATH with a bearer token (SV_TOKEN); done() prints answers by status class.
local token = os.getenv("SV_TOKEN")
local path = os.getenv("SV_PATH")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, refused, other = 0, 0, 0
end

function request()
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
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
