/**
 * Lua scripts behind `RedisPresence`. Every mutation runs as one script so that the change, the
 * recomputed aggregate status and the PUBLISH of a change event are atomic: two gateways (or two
 * sweepers) can never both announce the same transition.
 *
 * Keys, all under the prefix P (ARGV[1]); ARGV[2] is the TTL in ms:
 *   P gw:<gatewayId>       string = the gateway's incarnation, PX ttl. Its liveness.
 *   P gateways             zset "<gatewayId>|<incarnation>" -> expiry (ms, Redis clock).
 *   P gu:<gw>|<inc>        set of user ids with connections on that gateway incarnation.
 *   P c:<userId>           hash connectionId -> {"g":gateway,"i":incarnation,"a":0|1,"d":device}
 *   P u:<userId>           hash st = status last announced, ls = last seen (ms). Never expires.
 *   P events               pub/sub channel of {"u","s","l","d","g"} change events.
 *   P lost                 hash "<gatewayId>|<incarnation>" -> 1: expired incarnations whose
 *                          loss was announced, while their sweep is still under way.
 *   P gateways-lost        pub/sub channel of {"g","l"}: a gateway that held connections
 *                          expired; l = its last heartbeat (ms).
 *
 * A connection is live while `P gw:<g>` holds the incarnation it was registered under, so
 * lookups are correct the moment a crashed gateway's key expires, before any sweep; and a
 * gateway restarted under the same id (new incarnation) does not revive its predecessor's
 * connections. Time is Redis's own (TIME), so gateway clock skew does not matter.
 *
 * Keys are built inside the scripts rather than passed as KEYS: fine on a standalone Redis
 * (a region's presence store), not valid on Redis Cluster.
 */

const PRELUDE = `
local P = ARGV[1]
local TTL = tonumber(ARGV[2])

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Live connections of a user, plus the gateway incarnations of connections that are dead
-- but not yet swept.
local function aggregate(user)
  local raw = redis.call('HGETALL', P .. 'c:' .. user)
  local live, away = 0, 0
  local gateways, seen, dead, alive = {}, {}, {}, {}
  for i = 1, #raw, 2 do
    local c = cjson.decode(raw[i + 1])
    local member = c.g .. '|' .. c.i
    local ok = alive[member]
    if ok == nil then
      ok = redis.call('GET', P .. 'gw:' .. c.g) == c.i
      alive[member] = ok
      if not ok then dead[#dead + 1] = member end
    end
    if ok then
      live = live + 1
      if c.a == 1 then away = away + 1 end
      if not seen[c.g] then
        seen[c.g] = true
        gateways[#gateways + 1] = c.g
      end
    end
  end
  table.sort(gateways)
  local status = 'offline'
  if live > 0 then
    if away == live then status = 'away' else status = 'online' end
  end
  return status, live, gateways, dead
end

-- Online users are seen now; offline ones when last marked, or at the last heartbeat of a
-- gateway that died holding them. -1 = never.
local function last_seen(user, status, now, dead)
  if status ~= 'offline' then return now end
  local ls = tonumber(redis.call('HGET', P .. 'u:' .. user, 'ls') or '-1')
  for _, member in ipairs(dead) do
    local expiry = redis.call('ZSCORE', P .. 'gateways', member)
    if expiry then ls = math.max(ls, tonumber(expiry) - TTL) end
  end
  return ls
end

-- Announce the user's status if it differs from the one last announced.
local function sync(user, now)
  local status, devices, gateways, dead = aggregate(user)
  local ukey = P .. 'u:' .. user
  local prev = redis.call('HGET', ukey, 'st') or 'offline'
  if status == prev then return end
  redis.call('HSET', ukey, 'st', status)
  local ls = last_seen(user, status, now, dead)
  if status == 'offline' and ls >= 0 then redis.call('HSET', ukey, 'ls', string.format('%.0f', ls)) end
  redis.call('PUBLISH', P .. 'events', cjson.encode({u = user, s = status, l = ls, d = devices, g = gateways}))
end

-- Drop the user from a gateway incarnation's user set once no connection of theirs is on it.
local function forget(user, member)
  local raw = redis.call('HGETALL', P .. 'c:' .. user)
  for i = 2, #raw, 2 do
    local c = cjson.decode(raw[i])
    if c.g .. '|' .. c.i == member then return end
  end
  redis.call('SREM', P .. 'gu:' .. member, user)
end

local function touch_gateway(gw, inc, now)
  local key = P .. 'gw:' .. gw
  local prev = redis.call('GET', key)
  redis.call('SET', key, inc, 'PX', TTL)
  redis.call('ZADD', P .. 'gateways', string.format('%.0f', now + TTL), gw .. '|' .. inc)
  return prev == inc
end
`;

/**
 * ARGV: P, TTL, user, connectionId, gateway, incarnation, device, away ('' keeps, '0', '1').
 * Returns 1 if the gateway incarnation was alive before, 0 if this call revived it (its first
 * connection, or its liveness had lapsed: see `RedisPresence.markOnline`).
 */
export const MARK_ONLINE = `${PRELUDE}
local user, conn, gw, inc, device, away = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local now = now_ms()
-- A gateway that registers a connection is alive right now.
local was_alive = touch_gateway(gw, inc, now)
local member = gw .. '|' .. inc
local ckey = P .. 'c:' .. user
local old = redis.call('HGET', ckey, conn)
local a = 0
if old then
  local c = cjson.decode(old)
  a = c.a
end
if away ~= '' then a = tonumber(away) end
redis.call('HSET', ckey, conn, cjson.encode({g = gw, i = inc, a = a, d = device}))
if old then
  local c = cjson.decode(old)
  if c.g .. '|' .. c.i ~= member then forget(user, c.g .. '|' .. c.i) end
end
redis.call('SADD', P .. 'gu:' .. member, user)
redis.call('HSET', P .. 'u:' .. user, 'ls', string.format('%.0f', now))
sync(user, now)
if was_alive then return 1 end
return 0
`;

/** ARGV: P, TTL, user, connectionId. Returns 1 if the connection existed. */
export const MARK_OFFLINE = `${PRELUDE}
local user, conn = ARGV[3], ARGV[4]
local ckey = P .. 'c:' .. user
local old = redis.call('HGET', ckey, conn)
if not old then return 0 end
local now = now_ms()
local c = cjson.decode(old)
redis.call('HDEL', ckey, conn)
forget(user, c.g .. '|' .. c.i)
redis.call('HSET', P .. 'u:' .. user, 'ls', string.format('%.0f', now))
sync(user, now)
return 1
`;

/** ARGV: P, TTL, user, connectionId, away ('0' | '1'). Returns 1 if the connection existed. */
export const SET_AWAY = `${PRELUDE}
local user, conn = ARGV[3], ARGV[4]
local ckey = P .. 'c:' .. user
local old = redis.call('HGET', ckey, conn)
if not old then return 0 end
local now = now_ms()
local c = cjson.decode(old)
c.a = tonumber(ARGV[5])
redis.call('HSET', ckey, conn, cjson.encode(c))
redis.call('HSET', P .. 'u:' .. user, 'ls', string.format('%.0f', now))
sync(user, now)
return 1
`;

/**
 * ARGV: P, TTL, gateway, incarnation. Returns 1 if the gateway was alive under this
 * incarnation, 0 if its liveness key had expired (or belonged to another incarnation), in which
 * case the caller re-registers the connections it holds, since a sweep may have removed them.
 */
export const HEARTBEAT = `${PRELUDE}
if touch_gateway(ARGV[3], ARGV[4], now_ms()) then return 1 end
return 0
`;

/**
 * ARGV: P, TTL, budget. Removes the connections of expired gateway incarnations, at most
 * `budget` users per call so one call never blocks Redis for long, and announces the resulting
 * changes. Returns {connections removed, 1 if work remains}.
 */
export const SWEEP = `${PRELUDE}
local now = now_ms()
local budget = tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', P .. 'gateways', '-inf', '(' .. string.format('%.0f', now),
  'WITHSCORES', 'LIMIT', 0, budget)
local removed = 0
for i = 1, #expired, 2 do
  local member = expired[i]
  local last_heartbeat = tonumber(expired[i + 1]) - TTL
  local gkey = P .. 'gu:' .. member
  -- Announced once per incarnation, and only when it still held connections: a gateway that
  -- stopped gracefully closed them all first (and finished its fan-outs).
  if redis.call('SCARD', gkey) > 0 and redis.call('HSETNX', P .. 'lost', member, 1) == 1 then
    local gw = string.match(member, '^(.*)|') or member
    redis.call('PUBLISH', P .. 'gateways-lost',
      cjson.encode({g = gw, l = tonumber(string.format('%.0f', last_heartbeat))}))
  end
  local users = redis.call('SPOP', gkey, budget)
  for _, user in ipairs(users) do
    local ckey = P .. 'c:' .. user
    local raw = redis.call('HGETALL', ckey)
    for j = 1, #raw, 2 do
      local c = cjson.decode(raw[j + 1])
      if c.g .. '|' .. c.i == member then
        redis.call('HDEL', ckey, raw[j])
        removed = removed + 1
      end
    end
    local ukey = P .. 'u:' .. user
    local ls = tonumber(redis.call('HGET', ukey, 'ls') or '-1')
    if last_heartbeat > ls then redis.call('HSET', ukey, 'ls', string.format('%.0f', last_heartbeat)) end
    sync(user, now)
  end
  budget = budget - #users
  if redis.call('SCARD', gkey) == 0 then
    redis.call('ZREM', P .. 'gateways', member)
    redis.call('HDEL', P .. 'lost', member)
  end
  if budget <= 0 then return {removed, 1} end
end
return {removed, 0}
`;

/**
 * ARGV: P, TTL, userId... Returns, per user, {status, lastSeen or -1, devices, {gateways}}.
 * Read-only apart from TIME.
 */
export const GET_PRESENCE = `${PRELUDE}
local now = now_ms()
local out = {}
for i = 3, #ARGV do
  local user = ARGV[i]
  local status, devices, gateways, dead = aggregate(user)
  out[#out + 1] = {status, last_seen(user, status, now, dead), devices, gateways}
end
return out
`;

/**
 * ARGV: P, TTL, asking gateway, user ids. Where the users are connected, for routing: for every
 * live gateway incarnation except the asking gateway's, the 0-based indexes (into the user ids)
 * of the users it holds: {{gateway, {index...}}...}, gateways without any left out. Reads the
 * per-gateway user sets (one SMISMEMBER per live gateway) rather than each user's connections,
 * so a 100-member group costs a few calls, not a hundred. The caller keeps the user ids to a few
 * hundred per call (they are unpacked as arguments).
 */
export const LOCATE = `${PRELUDE}
local me = ARGV[3]
local out = {}
if #ARGV < 4 then return out end
local users = nil
local live = redis.call('ZRANGEBYSCORE', P .. 'gateways', '(' .. string.format('%.0f', now_ms()), '+inf')
for _, member in ipairs(live) do
  local gw, inc = string.match(member, '^(.*)|([^|]*)$')
  if gw and gw ~= me and redis.call('GET', P .. 'gw:' .. gw) == inc then
    -- Built only when some other gateway is alive (a single-gateway region never needs it).
    if not users then
      users = {}
      for i = 4, #ARGV do users[#users + 1] = ARGV[i] end
    end
    local hits = redis.call('SMISMEMBER', P .. 'gu:' .. member, unpack(users))
    local idx = {}
    for i, hit in ipairs(hits) do
      if hit == 1 then idx[#idx + 1] = i - 1 end
    end
    if #idx > 0 then out[#out + 1] = {gw, idx} end
  end
end
return out
`;
