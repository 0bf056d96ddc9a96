-- post.lua - wrk script of `make bench` (scripts/bench): POST the JSON body
-- in $BENCH_BODY (with $BENCH_AUTH as the Authorization header, when set)
-- to the URL given to wrk, then print one machine-readable
-- line (after wrk's own summary) that scripts/bench parses.
-- $BENCH_METHOD=GET sends GETs without a body instead; $BENCH_CLOSE=1 adds
-- "Connection: close", so that every request has a connection of its own.
wrk.method = os.getenv("BENCH_METHOD") or "POST"
if wrk.method == "POST" then
  wrk.body = os.getenv("BENCH_BODY") or "{}"
  wrk.headers["Content-Type"] = "application/json"
end
if os.getenv("BENCH_AUTH") then
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
end
if os.getenv("BENCH_CLOSE") then
  wrk.headers["Connection"] = "close"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
