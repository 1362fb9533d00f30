-- wrk script: bids on many lots, as the README's load figures measure.
--
--   wrk -t2 -c64 -d10s --latency -s hosts/load/bids.lua http://127.0.0.1:8080 -- lots.txt 2
--
-- (the last argument repeats -t). lots.txt holds one lot id per line (`loadgen --write-lots lots.txt`
-- creates them); the server runs with --dev-auth. Lots are split between
-- wrk's threads and every bid on a lot is 100.00 above the last one, so
-- bids arrive in order per lot and are all accepted; the bidder rotates
-- over 4000 ids so the per-participant rate limit is not what is measured.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  local all = {}
  for line in io.lines(args[1]) do
    if #line > 0 then all[#all + 1] = line end
  end
  lots = {}
  local n = tonumber(args[2] or "1")
  for i, id in ipairs(all) do
    if (i - 1) % n == tid then lots[#lots + 1] = id end
  end
  if #lots == 0 then lots = all end
  amounts = {}
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local i = (counter % #lots) + 1
  amounts[i] = (amounts[i] or 0) + 1
  local amount = 10 + amounts[i] * 100
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Participant"] = "bidder-" .. ((counter * 7 + tid * 1000) % 4000),
    ["X-Roles"] = "bidder",
  }
  local body = '{"amount":"' .. amount .. '.00"}'
  return wrk.format("POST", "/lots/" .. lots[i] .. "/bids", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, count in pairs(s) do
      totals[code] = (totals[code] or 0) + count
    end
  end
  local seconds = summary.duration / 1e6
  for code, count in pairs(totals) do
    io.write(string.format("status %d: %d (%.0f/s)\n", code, count, count / seconds))
  end
end
