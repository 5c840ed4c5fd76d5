"""The Redis limiter's Lua scripts: each decision is one script, so check and update are one operation.

Windows come from the server's `TIME`, never from a replica's clock. Keys are built inside the
script from a prefix (one Redis, or a Valkey/Redis primary; not Redis Cluster).
"""

# ARGV: prefix, rpm, tpm, daily, monthly (0 = unlimited), tokens to reserve.
# Returns: {denied or "", now, minute, day, month, requests, tpm, daily, monthly}.
ACQUIRE = """
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local minute, day = math.floor(sec / 60), math.floor(sec / 86400)
-- civil month from days since the epoch (H. Hinnant's civil_from_days)
local z = day + 719468
local era = math.floor(z / 146097)
local doe = z - era * 146097
local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
local mp = math.floor((5 * doy + 2) / 153)
local m = mp < 10 and mp + 3 or mp - 9
local y = yoe + era * 400 + (m <= 2 and 1 or 0)
local month = y * 12 + m - 1
local p = ARGV[1]
local rpm, tpm, daily, monthly = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local est = tonumber(ARGV[6])
local kr, kt = p .. ':rpm:' .. minute, p .. ':tpm:' .. minute
local kd, km = p .. ':daily:' .. day, p .. ':monthly:' .. month
local r = tonumber(redis.call('GET', kr) or '0')
local tk = tonumber(redis.call('GET', kt) or '0')
local d = tonumber(redis.call('GET', kd) or '0')
local mo = tonumber(redis.call('GET', km) or '0')
local denied = ''
if rpm > 0 and r + 1 > rpm then denied = 'requests'
elseif tpm > 0 and tk + est > tpm then denied = 'tokens'
elseif daily > 0 and d + est > daily then denied = 'daily_tokens'
elseif monthly > 0 and mo + est > monthly then denied = 'monthly_tokens' end
if denied == '' then
  r = redis.call('INCR', kr)
  if r == 1 then redis.call('EXPIRE', kr, 120) end
  if est > 0 then
    tk = redis.call('INCRBY', kt, est)
    if tk == est then redis.call('EXPIRE', kt, 120) end
    d = redis.call('INCRBY', kd, est)
    if d == est then redis.call('EXPIRE', kd, 2 * 86400) end
    mo = redis.call('INCRBY', km, est)
    if mo == est then redis.call('EXPIRE', km, 33 * 86400) end
  end
end
return {denied, now, minute, day, month, r, tk, d, mo}
"""

# ARGV: groups of five — prefix, minute, day, month, delta (actual - reserved) — one per settled counter set,
# so a batch of deferred settles is one atomic call. Counters whose window is gone stay gone.
SETTLE = """
for i = 1, #ARGV, 5 do
  local p, delta = ARGV[i], tonumber(ARGV[i + 4])
  for _, key in ipairs({p .. ':tpm:' .. ARGV[i + 1], p .. ':daily:' .. ARGV[i + 2], p .. ':monthly:' .. ARGV[i + 3]}) do
    if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, delta) end
  end
end
return 1
"""
