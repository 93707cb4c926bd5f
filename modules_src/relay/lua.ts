// SPDX-License-Identifier: LGPL-3.0-or-later
/**
 * The Redis store's operations as Lua scripts: each is one atomic round
 * trip, so any number of hrmr servers on one Redis act as one relay.
 *
 * Layout (the original's, so a Redis it filled stays readable): stream
 * `t:ID:s` (fields `data`, `ct`), consumer group `t:ID:g`, consumer `c-ID`;
 * a reply in list `t:ID:r-MID` with its type in `t:ID:rt-MID`, both with the
 * reply TTL. New: a produce PUBLISHes `m` (and a reply `r<MID>`) on channel
 * `t:ID:n`, which is how waiting polls on every server learn of it; and an
 * emptied stream gets an expiry (`idle_ttl`), removed again by the next
 * produce, so idle tunnels do not stay in Redis forever. The stream is not
 * deleted outright: it keeps its last id, so message ids stay strictly
 * increasing per tunnel.
 */

/** Shared helpers: the group is created on demand (a stream written by someone else may lack it). */
const HELPERS = `
local function ensure_group(s, g)
  pcall(redis.call, 'XGROUP', 'CREATE', s, g, '0')
end
local function entry(e)
  local data, ct = '', ''
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'data' then data = f[i + 1] elseif f[i] == 'ct' then ct = f[i + 1] end
  end
  return {e[1], data, ct}
end
local function idle(s, ms)
  if redis.call('XLEN', s) == 0 then redis.call('PEXPIRE', s, ms) end
end
`;

/**
 * consume(stream, group, consumer, pending, idle ms): {id, body, ct} or false.
 * Plain: XREADGROUP NOACK then XDEL. Pending: the oldest pending entry
 * (XAUTOCLAIM, idle 0), else a new one left pending.
 */
const CONSUME_FN = `
local function consume(s, g, c, pending, idle_ms)
  if redis.call('EXISTS', s) == 0 then return false end
  if pending == '1' then
    local start = '0-0'
    for _ = 1, 100 do
      local ok, r = pcall(redis.call, 'XAUTOCLAIM', s, g, c, 0, start, 'COUNT', 1)
      if not ok then ensure_group(s, g) break end
      if r[2][1] then return entry(r[2][1]) end
      start = r[1]
      if start == '0-0' then break end
    end
    local r = redis.call('XREADGROUP', 'GROUP', g, c, 'COUNT', 1, 'STREAMS', s, '>')
    if not r then return false end
    return entry(r[1][2][1])
  end
  local ok, r = pcall(redis.call, 'XREADGROUP', 'GROUP', g, c, 'COUNT', 1, 'NOACK', 'STREAMS', s, '>')
  if not ok then
    ensure_group(s, g)
    r = redis.call('XREADGROUP', 'GROUP', g, c, 'COUNT', 1, 'NOACK', 'STREAMS', s, '>')
  end
  if not r then return false end
  local e = r[1][2][1]
  redis.call('XDEL', s, e[1])
  idle(s, idle_ms)
  return entry(e)
end
`;

/**
 * KEYS: stream. ARGV: group, body, ct, limit (> 0: backpressure; 0: trim),
 * maxlen, channel, and optionally consumer, pending ('1'/'0'), idle ms.
 * Returns {1, id, length} or {0, length} when full.
 *
 * With a consumer (this process has a poll waiting on the tunnel), the
 * script then runs the consume for that poll, exactly as the poll's own
 * consume would right after it: {1, id, length, message or false}. The
 * notification goes out only when the new message is still there for
 * others, so a wake-up on the producing server costs this one round trip.
 *
 * When nothing is queued and the poll is a plain one, the new message is
 * the one that consume would return: it is added and deleted at once, with
 * the idle expiry an emptied stream gets (no XREADGROUP, entry table or
 * PERSIST; about a third of the script's time on an idle Redis, and that
 * time is a wake-up's latency). Not reading through the group leaves its
 * last-delivered id behind, which changes nothing: the entry is gone.
 */
export const PRODUCE = `${HELPERS}${CONSUME_FN}
local s = KEYS[1]
local limit = tonumber(ARGV[4])
local len = redis.call('XLEN', s)
if limit > 0 and len >= limit then return {0, len} end
if len == 0 and ARGV[8] == '0' then
  if redis.call('EXISTS', s) == 0 then redis.call('XGROUP', 'CREATE', s, ARGV[1], '0', 'MKSTREAM') end
  local id = redis.call('XADD', s, '*', 'data', ARGV[2], 'ct', ARGV[3])
  redis.call('XDEL', s, id)
  redis.call('PEXPIRE', s, ARGV[9])
  return {1, id, 1, {id, ARGV[2], ARGV[3]}}
end
if len == 0 then
  if redis.call('EXISTS', s) == 0 then
    redis.call('XGROUP', 'CREATE', s, ARGV[1], '0', 'MKSTREAM')
  else
    redis.call('PERSIST', s)
  end
end
local id
if limit > 0 then
  id = redis.call('XADD', s, '*', 'data', ARGV[2], 'ct', ARGV[3])
  len = len + 1
else
  id = redis.call('XADD', s, 'MAXLEN', ARGV[5], '*', 'data', ARGV[2], 'ct', ARGV[3])
  len = math.min(len + 1, tonumber(ARGV[5]))
end
if ARGV[7] then
  local m = consume(s, ARGV[1], ARGV[7], ARGV[8], ARGV[9])
  if not m or m[1] ~= id then redis.call('PUBLISH', ARGV[6], 'm') end
  return {1, id, len, m}
end
redis.call('PUBLISH', ARGV[6], 'm')
return {1, id, len}
`;

/** KEYS: stream. ARGV: group, consumer, pending ('1'/'0'), idle ms. Returns {id, body, ct} or nil. */
export const CONSUME = `${HELPERS}${CONSUME_FN}
return consume(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`;

/** KEYS: stream. ARGV: group, mid, idle ms. Ack and delete. */
export const ACK = `${HELPERS}
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return 0 end
pcall(redis.call, 'XACK', s, ARGV[1], ARGV[2])
redis.call('XDEL', s, ARGV[2])
idle(s, ARGV[3])
return 1
`;

/** KEYS: stream. ARGV: group, mid. Returns 202 pending, 201 queued, 204 otherwise. */
export const STATE = `
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return 204 end
local ok, p = pcall(redis.call, 'XPENDING', s, ARGV[1], ARGV[2], ARGV[2], 1)
if ok and #p > 0 then return 202 end
if #redis.call('XRANGE', s, ARGV[2], ARGV[2]) > 0 then return 201 end
return 204
`;

/**
 * KEYS: stream, reply list, reply type. ARGV: group, mid, body, ct, ttl s, channel, idle ms.
 * Returns 1 (stored, message acked and deleted) or 0 (it was not pending).
 */
export const REPLY = `${HELPERS}
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return 0 end
local ok, p = pcall(redis.call, 'XPENDING', s, ARGV[1], ARGV[2], ARGV[2], 1)
if not ok or #p == 0 then return 0 end
redis.call('XACK', s, ARGV[1], ARGV[2])
redis.call('XDEL', s, ARGV[2])
idle(s, ARGV[7])
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
redis.call('PUBLISH', ARGV[6], 'r' .. ARGV[2])
return 1
`;

/** KEYS: reply list, reply type. Returns {body, ct} or nil; read once. */
export const READ_REPLY = `
local b = redis.call('RPOP', KEYS[1])
if not b then return false end
local ct = redis.call('GET', KEYS[2]) or ''
redis.call('DEL', KEYS[2])
return {b, ct}
`;

/** KEYS: stream. ARGV: group, idle ms. Empties the tunnel (keeps the stream's last id). */
export const CLEAR = `
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return 0 end
redis.call('XTRIM', s, 'MAXLEN', 0)
pcall(redis.call, 'XGROUP', 'DESTROY', s, ARGV[1])
redis.call('XGROUP', 'CREATE', s, ARGV[1], '$')
redis.call('PEXPIRE', s, ARGV[2])
return 1
`;

/** Key and channel names of tunnel `id`. */
export const keys = {
  stream: (id: string): string => `t:${id}:s`,
  group: (id: string): string => `t:${id}:g`,
  consumer: (id: string): string => `c-${id}`,
  reply: (id: string, mid: string): string => `t:${id}:r-${mid}`,
  replyType: (id: string, mid: string): string => `t:${id}:rt-${mid}`,
  channel: (id: string): string => `t:${id}:n`,
};
