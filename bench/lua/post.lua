-- wrk script for bench/run: rotates over pre-built raw HTTP requests and prints a JSON summary.
-- Usage: wrk -s post.lua URL -- MANIFEST [close] [unique-key]   (MANIFEST lists request files, one
-- complete request each; `close` adds Connection: close, so that every request is a new
-- connection; `unique-key` adds X-Bench-Key, unique per request, for the dedup scenario)
-- Building the requests up front (headers, compression, signatures) keeps Lua off the hot path.

local requests = {}
local count = 0
local next_index = 0
local threads_made = 0
local unique_key = false
local sent = 0

function setup(thread)
  thread:set("thread_id", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  local manifest = args[1]
  if manifest == nil then
    error("post.lua needs the manifest path after --")
  end
  for path in io.lines(manifest) do
    if path ~= "" then
      local file = assert(io.open(path, "rb"))
      local request = file:read("*a")
      if args[2] == "close" or args[3] == "close" then
        request = request:gsub("\r\n", "\r\nConnection: close\r\n", 1)
      end
      requests[#requests + 1] = request
      file:close()
    end
  end
  unique_key = args[2] == "unique-key" or args[3] == "unique-key"
  count = #requests
  if count == 0 then
    error("no requests in " .. manifest)
  end
  -- Threads start at different offsets so they do not all send the same payload at once.
  next_index = ((thread_id or 0) * 7919) % count
end

function request()
  next_index = next_index % count + 1
  if unique_key then
    sent = sent + 1
    return (requests[next_index]:gsub("\r\n", string.format("\r\nX-Bench-Key: %d-%d\r\n", thread_id or 0, sent), 1))
  end
  return requests[next_index]
end

function done(summary, latency, requests_made)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %.1f, "p99": %.1f, "p99.9": %.1f, "max": %.1f, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
