-- wrk script for `make bench-ingest`: send each pre-built request exactly once.
--
-- Environment (set by bench/ingest.py):
--   CT_WRK_REQUESTS  file of requests, each "<byte length>\n<raw HTTP request>"
--   CT_WRK_THREADS   the -t given to wrk (request i goes to thread i % threads)
--   CT_WRK_OUT       folder for the results: thread-<id>.done per thread, summary.txt at the end
--   CT_WRK_FILLER    path of a trivial GET answered 204 (see below)
--
-- wrk has no "stop after N requests": every connection asks for a new request as soon as its
-- previous one is answered. Once a thread has handed out its share, it sends the filler (a GET
-- answered 204, never counted) until its last real answer arrives; then it writes its counts and
-- stops its loop. bench/ingest.py waits for every thread's file and then ends wrk with SIGINT,
-- which runs done() below. Timings use CLOCK_MONOTONIC through LuaJIT's ffi.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } ct_timespec;
int clock_gettime(int clock_id, ct_timespec *tp);
]])
local ts = ffi.new("ct_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC, the clock of Python's time.monotonic()
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- main state ----------------------------------------------------------------------------------
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("CT_WRK_OUT") .. "/summary.txt", "w"))
  local e = summary.errors
  out:write(string.format("requests %d\nduration_us %d\n", summary.requests, summary.duration))
  out:write(string.format("errors %d %d %d %d %d\n", e.connect, e.read, e.write, e.status, e.timeout))
  -- wrk exposes percentiles, not its histogram: a fine quantile sketch, merged by the caller.
  for i = 1, 1000 do
    out:write(string.format("q %.1f %d\n", i / 10, latency:percentile(i / 10)))
  end
  out:close()
end

-- thread states -------------------------------------------------------------------------------
local mine = {}
local next_index = 1
local answered, accepted, duplicate, other, fillers = 0, 0, 0, 0, 0
local first_sent, last_answer = nil, nil
local filler = nil
local verified = false
local finished = false

function init(args)
  local threads = tonumber(os.getenv("CT_WRK_THREADS"))
  local f = assert(io.open(os.getenv("CT_WRK_REQUESTS"), "rb"))
  local data = f:read("*a")
  f:close()
  local pos, index = 1, 0
  while pos <= #data do
    local nl = string.find(data, "\n", pos, true)
    local len = tonumber(string.sub(data, pos, nl - 1))
    if index % threads == id then
      mine[#mine + 1] = string.sub(data, nl + 1, nl + len)
    end
    pos = nl + 1 + len
    index = index + 1
  end
  filler = wrk.format("GET", os.getenv("CT_WRK_FILLER"))
  -- wrk calls request() once on thread 0 to check the script before running: that call must
  -- not use up a real request.
  verified = (id ~= 0)
  if #mine == 0 then
    finish()
  end
end

function request()
  if not verified then
    verified = true
    return filler
  end
  if next_index > #mine then
    return filler
  end
  local req = mine[next_index]
  next_index = next_index + 1
  if first_sent == nil then
    first_sent = now()
  end
  return req
end

function finish()
  if finished then
    return
  end
  finished = true
  local path = string.format("%s/thread-%d.done", os.getenv("CT_WRK_OUT"), id)
  local out = assert(io.open(path .. ".tmp", "w"))
  out:write(
    string.format(
      "%d %d %d %d %d %d %.6f %.6f\n",
      #mine,
      answered,
      accepted,
      duplicate,
      other,
      fillers,
      first_sent or 0,
      last_answer or 0
    )
  )
  out:close()
  os.rename(path .. ".tmp", path)
  wrk.thread:stop()
end

function response(status, headers, body)
  if status == 204 then
    fillers = fillers + 1
    return
  end
  answered = answered + 1
  last_answer = now()
  if status >= 200 and status < 300 then
    if string.find(body, '"duplicate"', 1, true) then
      duplicate = duplicate + 1
    else
      accepted = accepted + 1
    end
  else
    other = other + 1
  end
  if answered >= #mine then
    finish()
  end
end
