-- wrk script: POST /v1/predict with the lift policy's observation shape (2 steps x 29 values), JSON.
-- Usage: wrk -s Benchmarks/serve_predict.lua -H "Authorization: Bearer $TOKEN" http://127.0.0.1:PORT/v1/predict
local values = {}
for i = 1, 58 do values[i] = string.format("%.3f", 0.1 + 0.01 * (i % 29)) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"policy": "lift", "observation": [' .. table.concat(values, ",") .. ']}'

-- Count non-200 answers so a run of refusals cannot pass for throughput.
local bad = 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non-200 responses (last thread): %d\n", bad))
end
