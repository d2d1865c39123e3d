-- wrk script of `bench.ingest_api`: POSTs batches of usage events, every event id and every
-- Idempotency-Key unique, and counts what came back.
--
--   wrk -s bench/ingest_api.lua URL -- TEMPLATE_FILE RUN_ID API_KEY
--
-- TEMPLATE_FILE holds one request body (a JSON array of events) where each "@" stands for the
-- request's own id: "<RUN_ID>-<thread>-<n>". Each event id is that id plus the event's index, so
-- ids never repeat within a run, and RUN_ID keeps runs apart. Every response must be a 202 that
-- accepted the whole batch (no `duplicates`, no `rejected`: the push API lists both, empty when
-- all went in; the bare endpoint lists neither). done() prints one line, "BENCH_RESULT <json>".

local threads = {}
local counter = 1

function setup(thread)
  thread:set("thread_number", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  template = file:read("*a")
  file:close()
  run_id = args[2]
  path = wrk.path
  base_headers = { ["Content-Type"] = "application/json" }
  if args[3] ~= "" then
    base_headers["Authorization"] = "Bearer " .. args[3]
  end
  n = 0
  sent = 0
  answered_202 = 0
  not_202 = 0
  not_all_accepted = 0
end

function request()
  n = n + 1
  sent = sent + 1
  local request_id = run_id .. "-" .. thread_number .. "-" .. n
  local headers = {}
  for name, value in pairs(base_headers) do
    headers[name] = value
  end
  headers["Idempotency-Key"] = request_id
  local body = string.gsub(template, "@", request_id)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status ~= 202 then
    not_202 = not_202 + 1
  else
    answered_202 = answered_202 + 1
    if string.find(body, '"rejected":[{', 1, true) or string.find(body, '"duplicates":[{', 1, true) then
      not_all_accepted = not_all_accepted + 1
    end
  end
end

function done(summary, latency, requests)
  local totals = { sent = 0, answered_202 = 0, not_202 = 0, not_all_accepted = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us": %d, "requests": %d, "sent": %d, "answered_202": %d, "not_202": %d, '
      .. '"not_all_accepted": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.duration, summary.requests, totals.sent, totals.answered_202, totals.not_202,
    totals.not_all_accepted, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, errors.connect, errors.read, errors.write, errors.timeout
  ))
end
