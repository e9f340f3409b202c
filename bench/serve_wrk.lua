-- wrk script for bench/serve_load.sh: POST bodies for octet serve.
-- SERVE_PATH (default /v1/completions), SERVE_MAX_TOKENS (default 64) and
-- SERVE_MODE (completion | classify) come from the environment.
local path = os.getenv("SERVE_PATH") or "/v1/completions"
local max_tokens = tonumber(os.getenv("SERVE_MAX_TOKENS") or "64")
local mode = os.getenv("SERVE_MODE") or "completion"
local prompts = {
  "In the beginning", "And God said, Let there be", "The LORD is my shepherd", "Blessed are the",
  "And it came to pass", "For God so loved", "Then Jesus said unto", "And Moses spake unto the",
}
local sentences = {
  "a charming and funny movie .", "the worst film of the year .", "it 's a dull , lifeless affair .",
  "an exhilarating experience .", "flat , boring and too long .", "one of the best films i have seen .",
}
local counter = 0
local statuses = {}

request = function()
  counter = counter + 1
  local body
  if mode == "classify" then
    body = string.format('{"input": "%s"}', sentences[(counter % #sentences) + 1])
  else
    body = string.format('{"prompt": "%s", "max_tokens": %d, "temperature": 0, "ignore_eos": true}',
                         prompts[(counter % #prompts) + 1], max_tokens)
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  -- One JSON line the shell script picks up (latency in microseconds).
  local non2xx = summary.errors.status or 0
  io.write(string.format(
    'WRK_JSON {"requests": %d, "seconds": %.3f, "requests_per_s": %.3f, "latency_p50_ms": %.3f, "latency_p99_ms": %.3f, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d, "errors_status": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, non2xx))
end
