-- taskctx task records: one script, one atomic call per operation (see records/redis.rs).
-- KEYS[1]: the record (a hash); KEYS[2]: the scope's unfinished tasks (a sorted set of task ids
-- scored by expiry, unix ms); KEYS[3..]: the snapshot entries (create only).
-- ARGV[1]: the operation; the rest depends on it. Every reply is {effect, record fields…}.
-- The rules mirror records/state.rs line for line.
local rec, unfinished, op = KEYS[1], KEYS[2], ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- Integers as text: Lua would print large numbers in exponent form.
local function int(x)
  return string.format('%d', x)
end

local function terminal(status)
  return status == 'completed' or status == 'failed' or status == 'cancelled'
end

-- The unfinished set lives as long as its latest entry.
local function fit(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #last == 2 then
    redis.call('PEXPIREAT', key, last[2])
  end
end

local function reply(effect)
  return {effect, redis.call('HGETALL', rec)}
end

if op == 'create' then
  -- ARGV: 2 ttl (s), 3 limit (0: none), 4 task id, 5 poll (ms), 6 has message, 7 message,
  -- 8.. the snapshot values, one per KEYS[3..].
  if redis.call('EXISTS', rec) == 1 then
    return {'duplicate', {}}
  end
  local ttl, limit, id = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
  redis.call('ZREMRANGEBYSCORE', unfinished, '-inf', int(now))
  if limit > 0 and redis.call('ZCARD', unfinished) >= limit then
    return {'too_many', {}}
  end
  local snapshot = {}
  for i = 3, #KEYS do
    redis.call('SET', KEYS[i], ARGV[i + 5], 'EX', ttl)
    snapshot[#snapshot + 1] = KEYS[i]
  end
  redis.call('HSET', rec, 'status', 'working', 'created', int(now), 'updated', int(now), 'ttl', int(ttl),
    'poll', ARGV[5], 'leg', 1, 'cancel', 0, 'claims', 0, 'keys', cjson.encode(snapshot))
  if ARGV[6] == '1' then
    redis.call('HSET', rec, 'msg', ARGV[7])
  end
  redis.call('EXPIRE', rec, ttl)
  redis.call('ZADD', unfinished, int(now + ttl * 1000), id)
  fit(unfinished)
  return reply('created')
end

if redis.call('EXISTS', rec) == 0 then
  return {'missing', {}}
end
local id = ARGV[2]

if op == 'get' then
  -- A poll: every key of the task lives its full TTL again.
  local ttl = tonumber(redis.call('HGET', rec, 'ttl'))
  redis.call('EXPIRE', rec, ttl)
  for _, key in ipairs(cjson.decode(redis.call('HGET', rec, 'keys') or '[]')) do
    redis.call('EXPIRE', key, ttl)
  end
  if redis.call('ZADD', unfinished, 'XX', 'CH', int(now + ttl * 1000), id) == 1 then
    fit(unfinished)
  end
  return reply('applied')
end

local status = redis.call('HGET', rec, 'status')
local worker = redis.call('HGET', rec, 'lease_worker')

local function touch()
  redis.call('HSET', rec, 'updated', int(now))
end

local function settle(new_status, field, body)
  redis.call('HSET', rec, 'status', new_status, 'updated', int(now))
  if field then
    redis.call('HSET', rec, field, body)
  end
  redis.call('HDEL', rec, 'lease_worker', 'lease_until')
  redis.call('ZREM', unfinished, id)
  fit(unfinished)
end

if op == 'release' then
  if worker == ARGV[3] then
    redis.call('HDEL', rec, 'lease_worker', 'lease_until')
    return reply('applied')
  end
  return reply('lease_lost')
end

if terminal(status) then
  return reply('already_settled')
end

if op == 'message' then
  if ARGV[3] == '1' then
    redis.call('HSET', rec, 'msg', ARGV[4])
  else
    redis.call('HDEL', rec, 'msg')
  end
  touch()
  return reply('applied')
elseif op == 'request' then
  -- A request already answered stays answered: a rerun asking again finds its response.
  local open = false
  for i = 3, #ARGV, 2 do
    if redis.call('HEXISTS', rec, 'res:' .. ARGV[i]) == 0 then
      redis.call('HSET', rec, 'req:' .. ARGV[i], ARGV[i + 1])
      open = true
    end
  end
  if open then
    redis.call('HSET', rec, 'status', 'input_required')
  end
  touch()
  return reply('applied')
elseif op == 'provide' then
  for i = 3, #ARGV, 2 do
    if redis.call('HEXISTS', rec, 'req:' .. ARGV[i]) == 0 then
      return reply('unexpected_input')
    end
  end
  for i = 3, #ARGV, 2 do
    redis.call('HDEL', rec, 'req:' .. ARGV[i])
    redis.call('HSET', rec, 'res:' .. ARGV[i], ARGV[i + 1])
  end
  if status == 'input_required' then
    local open = false
    for _, field in ipairs(redis.call('HKEYS', rec)) do
      if string.sub(field, 1, 4) == 'req:' then
        open = true
        break
      end
    end
    if not open then
      redis.call('HSET', rec, 'status', 'working')
      redis.call('HINCRBY', rec, 'leg', 1)
    end
  end
  touch()
  return reply('applied')
elseif op == 'cancel' then
  redis.call('HSET', rec, 'cancel', 1)
  settle('cancelled')
  return reply('applied')
elseif op == 'settle' then
  -- ARGV[3]: completed, failed or cancelled; ARGV[4]: the result or error.
  if ARGV[3] == 'completed' then
    settle('completed', 'result', ARGV[4])
  elseif ARGV[3] == 'failed' then
    settle('failed', 'error', ARGV[4])
  else
    settle('cancelled')
  end
  return reply('applied')
elseif op == 'claim' then
  -- ARGV[3]: the worker; ARGV[4]: the lease (ms).
  local until_ms = tonumber(redis.call('HGET', rec, 'lease_until') or '0')
  if worker and worker ~= ARGV[3] and until_ms > now then
    return reply('lease_held')
  end
  redis.call('HSET', rec, 'lease_worker', ARGV[3], 'lease_until', int(now + tonumber(ARGV[4])))
  redis.call('HINCRBY', rec, 'claims', 1)
  return reply('applied')
elseif op == 'renew' then
  if worker ~= ARGV[3] then
    return reply('lease_lost')
  end
  redis.call('HSET', rec, 'lease_until', int(now + tonumber(ARGV[4])))
  return reply('applied')
elseif op == 'abandoned' then
  -- ARGV[3]: the error.
  local until_ms = tonumber(redis.call('HGET', rec, 'lease_until') or '0')
  if worker and until_ms <= now then
    settle('failed', 'error', ARGV[3])
    return reply('applied')
  end
  return reply('not_abandoned')
end
return redis.error_reply('unknown task record operation')
