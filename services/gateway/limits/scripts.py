"""The Redis limiter's Lua scripts: each decision is one script, so check and update are one operation.

Windows come from the server's `TIME`, never from a replica's clock. Keys are built inside the
script from a prefix (one Redis, or a Valkey/Redis primary; not Redis Cluster).

A token counter's expiry tells when it was created: ACQUIRE sets it once, at creation, to the decision's
`TIME` (in ms) plus the counter's lifetime below, so `expiry - lifetime` is its birth. SETTLE uses that to tell
the counter a reservation was counted on from a new one under the same name (Redis restarted without
persistence, or evicted the key, and a later decision created it again): a correction lands only on a counter
born no later than the reservation, never creates one, and never takes one below 0. The lifetimes are part of
the keys' format: changing one would make SETTLE misjudge the counters that older code created.
"""

TPM_TTL_S = 120  # the tpm counter of one minute (and the rpm one)
DAILY_TTL_S = 2 * 86400  # a day's counter
MONTHLY_TTL_S = 33 * 86400  # a calendar month's counter


def _with_ttls(script: str) -> str:
    return (script.replace("TPM_TTL_MS", str(TPM_TTL_S * 1000)).replace("DAILY_TTL_MS", str(DAILY_TTL_S * 1000))
            .replace("MONTHLY_TTL_MS", str(MONTHLY_TTL_S * 1000)))


# ARGV: prefix, rpm, tpm, daily, monthly (0 = unlimited), tokens to reserve.
# Returns: {denied or "", now, minute, day, month, requests, tpm, daily, monthly}.
ACQUIRE = _with_ttls("""
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local ms = sec * 1000 + math.floor(tonumber(t[2]) / 1000)
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
local tkv, dv, mov = redis.call('GET', kt), redis.call('GET', kd), redis.call('GET', km)
local tk, d, mo = tonumber(tkv or '0'), tonumber(dv or '0'), tonumber(mov or '0')
local denied = ''
if rpm > 0 and r + 1 > rpm then denied = 'requests'
elseif tpm > 0 and tk + est > tpm then denied = 'tokens'
elseif daily > 0 and d + est > daily then denied = 'daily_tokens'
elseif monthly > 0 and mo + est > monthly then denied = 'monthly_tokens' end
if denied == '' then
  r = redis.call('INCR', kr)
  if r == 1 then redis.call('EXPIRE', kr, 120) end
  if est > 0 then  -- a token counter's expiry is set once, when it is created: it dates its birth (above)
    tk = redis.call('INCRBY', kt, est)
    if not tkv then redis.call('PEXPIREAT', kt, ms + TPM_TTL_MS) end
    d = redis.call('INCRBY', kd, est)
    if not dv then redis.call('PEXPIREAT', kd, ms + DAILY_TTL_MS) end
    mo = redis.call('INCRBY', km, est)
    if not mov then redis.call('PEXPIREAT', km, ms + MONTHLY_TTL_MS) end
  end
end
return {denied, now, minute, day, month, r, tk, d, mo}
""")

# ARGV: groups of six — prefix, minute, day, month, delta (actual - reserved), since (the decision's TIME in ms,
# the earliest of the reservations summed into the group) — one per settled counter set, so a batch of deferred
# settles is one atomic call. A counter gets the delta only if it exists and was born (expiry - lifetime, to the
# ms; +1 ms for the clock read between TIME and PTTL) no later than `since`: a counter created after the
# reservation (Redis lost the one it was counted on) never held its estimate, and taking the estimate off it
# would free budget that was really spent. A counter without an expiry (set by hand) is corrected. Never below 0.
SETTLE = _with_ttls("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lifetimes = {TPM_TTL_MS, DAILY_TTL_MS, MONTHLY_TTL_MS}
for i = 1, #ARGV, 6 do
  local p, delta, since = ARGV[i], tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local keys = {p .. ':tpm:' .. ARGV[i + 1], p .. ':daily:' .. ARGV[i + 2], p .. ':monthly:' .. ARGV[i + 3]}
  for j = 1, 3 do
    local n = redis.call('GET', keys[j])
    if n then
      local ttl = redis.call('PTTL', keys[j])
      if ttl < 0 or now + ttl - lifetimes[j] <= since + 1 then
        n = tonumber(n)
        local d = delta
        if n + d < 0 then d = -n end
        if d ~= 0 then redis.call('INCRBY', keys[j], d) end
      end
    end
  end
end
return 1
""")
