-- wrk script for `npm run bench -- --compare etcd` (bench/compare-etcd.ts).
-- One script for both systems, chosen by the environment:
--   WRK_SYSTEM  tsraft | etcd
--   WRK_OP      put | get | get-lease | txn
--               txn: one transaction on two keys: compare the first key's value with the
--               value every key holds (so it holds), then put both keys; get the first if not
--               get-lease: tsraft's lease reads (?consistency=lease); etcd has none, so its
--               serializable reads (a local read, not linearizable) stand beside them
--   WRK_KEYS    number of keys (default 100000): keys key000000 .. key099999, picked at random
--   WRK_VALUE_BYTES  value size (default 256)
-- tsraft: PUT /v1/kv/{key} {"value": "..."}, GET /v1/kv/{key} (linearizable by default),
--         POST /v1/txn.
-- etcd:   POST /v3/kv/put {"key": b64, "value": b64}, POST /v3/kv/range {"key": b64}
--         (linearizable by default), POST /v3/kv/txn, through etcd's v3 JSON gateway.
-- done() prints one line "WRKJSON {...}" with the counts and the latency percentiles in
-- microseconds, which the bench parses instead of wrk's human-readable report.

local system = os.getenv("WRK_SYSTEM") or "tsraft"
local op = os.getenv("WRK_OP") or "put"
local nkeys = tonumber(os.getenv("WRK_KEYS") or "100000")
local vbytes = tonumber(os.getenv("WRK_VALUE_BYTES") or "256")

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1)
      .. (b and b64chars:sub(c3 + 1, c3 + 1) or "=") .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local value = string.rep("v", vbytes)
local headers = { ["Content-Type"] = "application/json" }
local etcd_value = b64(value)
local tsraft_body = '{"value":"' .. value .. '"}'

local threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

local function keyOf(i)
  return string.format("key%06d", i)
end

local function key()
  return keyOf(math.random(0, nkeys - 1))
end

-- A branch writes each key at most once, so the second key is the next one.
local function txn()
  local i = math.random(0, nkeys - 1)
  local k1, k2 = keyOf(i), keyOf((i + 1) % nkeys)
  if system == "etcd" then
    local put = function(k) return '{"requestPut":{"key":"' .. b64(k) .. '","value":"' .. etcd_value .. '"}}' end
    return wrk.format("POST", "/v3/kv/txn", headers,
      '{"compare":[{"key":"' .. b64(k1) .. '","target":"VALUE","result":"EQUAL","value":"' .. etcd_value .. '"}],'
        .. '"success":[' .. put(k1) .. ',' .. put(k2) .. '],'
        .. '"failure":[{"requestRange":{"key":"' .. b64(k1) .. '"}}]}')
  end
  return wrk.format("POST", "/v1/txn", headers,
    '{"compare":[{"key":"' .. k1 .. '","target":"value","op":"=","value":"' .. value .. '"}],'
      .. '"success":[{"op":"put","key":"' .. k1 .. '","value":"' .. value .. '"},{"op":"put","key":"' .. k2 .. '","value":"' .. value .. '"}],'
      .. '"failure":[{"op":"get","key":"' .. k1 .. '"}]}')
end

function request()
  if op == "txn" then
    return txn()
  end
  local k = key()
  if system == "etcd" then
    if op == "put" then
      return wrk.format("POST", "/v3/kv/put", headers, '{"key":"' .. b64(k) .. '","value":"' .. etcd_value .. '"}')
    end
    if op == "get-lease" then
      return wrk.format("POST", "/v3/kv/range", headers, '{"key":"' .. b64(k) .. '","serializable":true}')
    end
    return wrk.format("POST", "/v3/kv/range", headers, '{"key":"' .. b64(k) .. '"}')
  end
  if op == "put" then
    return wrk.format("PUT", "/v1/kv/" .. k, headers, tsraft_body)
  end
  if op == "get-lease" then
    return wrk.format("GET", "/v1/kv/" .. k .. "?consistency=lease")
  end
  return wrk.format("GET", "/v1/kv/" .. k)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
