-- wrk: opens sessions (POST /v1/sessions) as fast as the API answers; each thread keeps
-- the ids it got, and done() writes them, one per line, to the file in SV_IDS.
-- Environment: SV_TOKEN (a viewer token), SV_TITLE, SV_REGION, SV_IDS.
local token = os.getenv("SV_TOKEN")
local body = string.format('{"title":"%s","device":"tv","region":"%s"}',
                           os.getenv("SV_TITLE"), os.getenv("SV_REGION"))
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  opened = 0
  refused = 0
end

function request()
  return wrk.format("POST", "/v1/sessions",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 201 then
    local id = body:match('"session_id":"([^"]+)"')
    if id and #ids < 20000 then
      table.insert(ids, id)
    end
    opened = opened + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("SV_IDS"), "w")
  local total_open, total_refused = 0, 0
  for _, t in ipairs(threads) do
    total_open = total_open + t:get("opened")
    total_refused = total_refused + t:get("refused")
    local list = t:get("ids")
    for i = 1, #list do
      out:write(list[i], "\n")
    end
  end
  out:close()
  io.write(string.format("SV opened %d refused %d\n", total_open, total_refused))
end
