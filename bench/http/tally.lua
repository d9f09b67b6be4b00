-- Shared by the wrk scripts beside it (each loads it with dofile): every thread is kept
-- for done(), gets a number (`tid`), and counts its answers by outcome; done() prints
-- "SV ok N refused N other N" (refused: 429 or 503 from the node's flow gate).
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init_tally()
  ok, refused, other = 0, 0, 0
end

-- Counts one answer: `want` is the success status (200 unless given).
function tally(status, body, want)
  if status == (want or 200) then
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

-- The threads' counts of `names`, summed.
function sum_threads(names)
  local total = {}
  for _, n in ipairs(names) do
    total[n] = 0
  end
  for _, t in ipairs(threads) do
    for _, n in ipairs(names) do
      total[n] = total[n] + t:get(n)
    end
  end
  return total, threads
end

function done(summary, latency, requests)
  local t = sum_threads({"ok", "refused", "other"})
  io.write(string.format("SV ok %d refused %d other %d\n", t.ok, t.refused, t.other))
end
