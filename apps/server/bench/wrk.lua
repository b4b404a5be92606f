-- wrk script for execute.bench.ts: rotates bearer tokens read from BENCH_TOKENS (one a line) and
-- sends BENCH_METHOD BENCH_PATH with BENCH_BODY. BENCH_MIX=1 cycles through the request kinds of
-- BENCH_MIX_FILE instead (lines "METHOD<TAB>PATH<TAB>BODY"). Prints one BENCH_JSON line at the end.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  tokens[#tokens + 1] = line
end
local n = #tokens
local kinds = {}
if os.getenv("BENCH_MIX_FILE") then
  for line in io.lines(os.getenv("BENCH_MIX_FILE")) do
    local method, path, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    kinds[#kinds + 1] = { method = method, path = path, body = body ~= "" and body or nil }
  end
else
  local body = os.getenv("BENCH_BODY")
  kinds[1] = { method = os.getenv("BENCH_METHOD"), path = os.getenv("BENCH_PATH"), body = body ~= "" and body or nil }
end
local k = #kinds

i = 0
wrapped = 0
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

request = function()
  i = i + 1
  local t = ((i - 1) % n) + 1
  if t == 1 and i > 1 then
    wrapped = wrapped + 1
  end
  local kind = kinds[((i - 1) % k) + 1]
  local headers = { ["authorization"] = "Bearer " .. tokens[t] }
  if kind.body then
    headers["content-type"] = "application/json"
  end
  return wrk.format(kind.method, kind.path, headers, kind.body)
end

function done(summary, latency, requests)
  local w = 0
  for _, thread in ipairs(threads) do
    w = w + (thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), w))
end
