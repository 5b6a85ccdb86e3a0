-- wrk script: POST a run submission with a bearer token (AGENTD_TOKEN); prints one JSON line.
-- wrk counts every non-2xx/3xx answer in errors.status.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("AGENTD_TOKEN")
if token and #token > 0 then
  wrk.headers["Authorization"] = "Bearer " .. token
end
wrk.body = '{"agent":"developer","input":"add a README to the workspace","labels":{"bench":"submit"}}'

done = function(summary, latency, requests)
  io.write(string.format("JSON {\"requests\":%d,\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%d}\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
