-- wrk: GET SV_PATH with a bearer token (SV_TOKEN); done() prints answers by outcome
-- (tally.lua).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "tally.lua")
local token = os.getenv("SV_TOKEN")
local path = os.getenv("SV_PATH")

function init(args)
  init_tally()
end

function request()
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function response(status, headers, body)
  tally(status, body)
end
