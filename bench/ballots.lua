-- wrk script of the ballot benchmark (bench/bench_voting.py); one wrk thread, keep-alive connections.
--   wrk -t1 -c16 -d5s -s bench/ballots.lua URL -- ours TOKENS_FILE BODY   (one member token a line)
--   wrk -t1 -c16 -d5s -s bench/ballots.lua URL -- bare TAG                (a fresh _id per request)
-- done() prints one line "WRKJSON {...}" with the counts and the latency percentiles (microseconds).
local mode, tokens, body, tag, i

function init(args)
  mode, i = args[1], 0
  if mode == "ours" then
    tokens = {}
    for line in io.lines(args[2]) do
      tokens[#tokens + 1] = line
    end
    body = args[3]
  else
    tag = args[2]
  end
end

function request()
  i = i + 1
  if mode == "ours" then
    local token = tokens[(i - 1) % #tokens + 1]
    return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. token,
                                    ["Content-Type"] = "application/json"}, body)
  end
  local doc = string.format('{"_id":"%s-%d","subject":"u%02d","stars":[5,4,4,5,3],"opinion":null}',
                            tag, i, i % 16 + 1)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, doc)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"non2xx":%d,"socket_errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
