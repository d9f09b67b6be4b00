-- wrk: opens sessions (POST /v1/sessions) as fast as the API answers; each thread keeps
-- the ids it got, and done() writes them, one per line, to the file in SV_IDS.
-- Environment: SV_TOKEN (a viewer token), SV_TITLE, SV_REGION, SV_IDS.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tally.lua")
local token = os.getenv("SV_TOKEN")
local body = string.format('{"title":"%s","device":"tv","region":"%s"}',
                           os.getenv("SV_TITLE"), os.getenv("SV_REGION"))

function init(args)
  ids = {}
  init_tally()
end

function request()
  return wrk.format("POST", "/v1/sessions",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  tally(status, body, 201)
  if status == 201 and #ids < 20000 then
    local id = body:match('"session_id":"([^"]+)"')
    if id then
      table.insert(ids, id)
    end
  end
end

function done(summary, latency, requests)
  local total, threads = sum_threads({"ok", "refused", "other"})
  local out = io.open(os.getenv("SV_IDS"), "w")
  for _, t in ipairs(threads) do
    local list = t:get("ids")
    for i = 1, #list do
      out:write(list[i], "\n")
    end
  end
  out:close()
  io.write(string.format("SV opened %d refused %d other %d\n", total.ok, total.refused, total.other))
end
