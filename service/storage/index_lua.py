"""The index's Lua scripts: every write and read of one file runs as one atomic step.

Layout (``P`` is the Redis prefix, ``G`` the live generation, ``GET P.."gen"``, "0" if unset):

- ``P ix G :o:<status><p><c>``: one sorted set per status, purpose and category digit, score the
  upload time in microseconds, member the file's list entry: ``<saved name> NUL <msgpack>``
  (``index_codec``); a page merges the sets its filter selects;
- ``P ix G :e:<n>``: the way from a path to its entry: bucket ``n`` of 65,521 (a hash of the
  field), field ``<p><c><saved name>``, value the score; small enough to stay ziplist-encoded;
- ``P ix G :h:<p><hex4>``: the duplicate lookup, field the raw SHA-256, value the ``<c><name>`` of
  the files holding it, oldest first, one a line;
- ``P ix G :n``: the counters of ``/stats``.

While ``depot reindex`` builds generation ``GET P.."next"``, every write goes to both generations,
so the switch (one ``SET``) loses nothing; deletes remove from both and their tombstone stops the
rebuild from adding the file back. Keys are derived inside the scripts from the generation, so a
reader never mixes two generations (Depot runs on a single Redis, not Redis Cluster).

Each constant is a script body; ``index.py`` prepends ``COMMON`` (ARGV[1] is always the prefix)."""

COMMON = """
local P = ARGV[1]
local function base(g) return P .. 'ix' .. g .. ':' end
local function live() return redis.call('GET', P .. 'gen') or '0' end
local function bucket(s)
  local h = 0
  for i = 1, #s do h = (h * 31 + string.byte(s, i)) % 65521 end
  return h
end
local function ekey(b, field) return b .. 'e:' .. bucket(field) end
local function hkey(b, field, digest)
  return b .. 'h:' .. string.sub(field, 1, 1) .. string.format('%02x%02x', string.byte(digest, 1), string.byte(digest, 2))
end
local function split(s)
  local out = {}
  for item in string.gmatch(s, '[^\\n]+') do out[#out + 1] = item end
  return out
end
-- the member of a file, its score and its set (one of the four statuses' sets)
local function find(b, field)
  local score = redis.call('HGET', ekey(b, field), field)
  if not score then return nil end
  local name, pc = string.sub(field, 3) .. '\\0', string.sub(field, 1, 2)
  for st = 0, 3 do
    local key = b .. 'o:' .. st .. pc
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, score, score)) do
      if string.sub(m, 1, #name) == name then return m, score, key end
    end
  end
  return nil
end
local function fields(member) return cmsgpack.unpack(string.sub(member, string.find(member, '\\0', 1, true) + 1)) end
-- the duplicate lookup of a digest: insert an item in upload order / remove it
local function link(b, field, digest, score)
  local key, item, p = hkey(b, field, digest), string.sub(field, 2), string.sub(field, 1, 1)
  local items = split(redis.call('HGET', key, digest) or '')
  local at = #items + 1
  for i, other in ipairs(items) do
    local s = redis.call('HGET', ekey(b, p .. other), p .. other)
    if s and tonumber(s) > score then at = i break end
  end
  table.insert(items, at, item)
  redis.call('HSET', key, digest, table.concat(items, '\\n'))
end
local function unlink(b, field, digest)
  local key, item = hkey(b, field, digest), string.sub(field, 2)
  local items, kept = split(redis.call('HGET', key, digest) or ''), {}
  for _, other in ipairs(items) do if other ~= item then kept[#kept + 1] = other end end
  if #kept == 0 then redis.call('HDEL', key, digest) else redis.call('HSET', key, digest, table.concat(kept, '\\n')) end
end
local function first(b, field, digest)
  local raw = redis.call('HGET', hkey(b, field, digest), digest)
  if not raw then return '' end
  return string.sub(field, 1, 1) .. split(raw)[1]
end
-- ARGV: 2 field, 3 member, 4 score, 5 status digit, 6 size, 7 raw SHA-256, 8 stats group
local function put(b)
  local field, score = ARGV[2], tonumber(ARGV[4])
  local ek = ekey(b, field)
  if redis.call('HEXISTS', ek, field) == 1 then return 0 end
  local pc = string.sub(field, 1, 2)
  redis.call('HSET', ek, field, ARGV[4])
  redis.call('ZADD', b .. 'o:' .. ARGV[5] .. pc, ARGV[4], ARGV[3])
  redis.call('HINCRBY', b .. 'n', ARGV[8] .. ':count', 1)
  redis.call('HINCRBY', b .. 'n', ARGV[8] .. ':size', ARGV[6])
  link(b, field, ARGV[7], score)
  return 1
end
-- remove one file from generation b: true when it was there
local function drop(b, field, group)
  local member, _, key = find(b, field)
  if not member then return false end
  local e = fields(member)
  unlink(b, field, e[3])
  redis.call('HDEL', ekey(b, field), field)
  redis.call('ZREM', key, member)
  redis.call('HINCRBY', b .. 'n', group .. ':count', -1)
  redis.call('HINCRBY', b .. 'n', group .. ':size', -e[2])
  return true
end
"""

# KEYS[1] the tombstone, KEYS[2] the event stream (optional); ARGV 2..8 as ``put``, 9 reject
# duplicates ('1'), 10..12 the event (max length, type, data).
ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-2, '', ''} end
local b, nxt = base(live()), redis.call('GET', P .. 'next')
local field = ARGV[2]
if redis.call('HEXISTS', ekey(b, field), field) == 1 then
  if nxt then put(base(nxt)) end
  return {0, '', ''}
end
local twin = first(b, field, ARGV[7])
if ARGV[9] == '1' and twin ~= '' then return {-1, twin, ''} end
put(b)
if nxt then put(base(nxt)) end
local id = ''
if KEYS[2] then id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[10], '*', 'type', ARGV[11], 'data', ARGV[12]) end
return {1, twin, id}
"""

# A rebuild's add to the generation it builds (ARGV 9): refused for a buried file or a stale build.
REBUILD_ADD = """
if redis.call('GET', P .. 'next') ~= ARGV[9] then return redis.error_reply('rebuild superseded') end
redis.call('EXPIRE', P .. 'next', ARGV[10])
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return put(base(ARGV[9]))
"""

# Move a file to a new status (ARGV as ``put``); the generation being built gets the file if it
# does not hold it yet, since the rebuild may have read the manifest before this change.
STATUS = """
local b, nxt = base(live()), redis.call('GET', P .. 'next')
local field = ARGV[2]
local function move(g)
  local member, score, key = find(g, field)
  if not member then return 0 end
  redis.call('ZREM', key, member)
  redis.call('ZADD', g .. 'o:' .. ARGV[5] .. string.sub(field, 1, 2), score, ARGV[3])
  return 1
end
if move(b) == 0 then return 0 end
if nxt and move(base(nxt)) == 0 then put(base(nxt)) end
return 1
"""

# A DELETE's claim (tombstones.py) and the removal from every generation, in one step: exactly one
# of concurrent DELETEs wins, and neither a background write nor a rebuild indexes the file again.
# KEYS[1] the tombstone; ARGV 2 field, 3 stats group, 4 tombstone TTL, 5 lease.
CLAIM_DELETE = """
local taken = claim(KEYS[1], '', ARGV[4], ARGV[5])
if not taken then return false end
local nxt = redis.call('GET', P .. 'next')
if nxt then drop(base(nxt), ARGV[2], ARGV[3]) end
if drop(base(live()), ARGV[2], ARGV[3]) then return 'indexed' end
return taken
"""

# One list page over the sorted sets ARGV[4..] (each ``o:<st><p><c>``), newest
# first: their union ordered by (score, member) descending, without materialising it. The score at
# rank ``offset``, and the lowest score the page reaches, are found by bisection on ZCOUNT (sets ×
# ~50 × O(log N) each), so the sets give about ``limit`` members in all. Returns {total, <p><c>, member, score, ...}.
PAGE = """
local b = base(live())
local limit, offset = tonumber(ARGV[2]), tonumber(ARGV[3])
local sets, total = {}, 0
for i = 4, #ARGV do
  local n = redis.call('ZCARD', b .. ARGV[i])
  if n > 0 then sets[#sets + 1] = {b .. ARGV[i], string.sub(ARGV[i], -2)} end
  total = total + n
end
if offset >= total or limit <= 0 then return {total} end
local function above(x)
  local n, bound = 0, '(' .. string.format('%.0f', x)
  for _, s in ipairs(sets) do n = n + redis.call('ZCOUNT', s[1], bound, '+inf') end
  return n
end
local lo, hi = nil, nil
for _, s in ipairs(sets) do
  local a = redis.call('ZRANGE', s[1], 0, 0, 'WITHSCORES')
  local z = redis.call('ZREVRANGE', s[1], 0, 0, 'WITHSCORES')
  if a[2] and (not lo or tonumber(a[2]) < lo) then lo = tonumber(a[2]) end
  if z[2] and (not hi or tonumber(z[2]) > hi) then hi = tonumber(z[2]) end
end
local top, skip, need = hi, offset, offset + limit
if offset > 0 then  -- the smallest score with at most ``offset`` members above it
  local a, z = lo, hi
  while a < z do
    local mid = math.floor((a + z) / 2)
    if above(mid) <= offset then z = mid else a = mid + 1 end
  end
  top = a
  skip = offset - above(top)
  need = skip + limit
end
local bound = string.format('%.0f', top)
local function within(x)
  local n = 0
  for _, s in ipairs(sets) do n = n + redis.call('ZCOUNT', s[1], string.format('%.0f', x), bound) end
  return n
end
local low = lo  -- the largest score with at least ``need`` members from there to ``top``
if #sets > 1 and within(lo) > need then
  local a, z = lo, top
  while a < z do
    local mid = math.ceil((a + z) / 2)
    if within(mid) >= need then a = mid else z = mid - 1 end
  end
  low = a
end
local found = {}
for _, s in ipairs(sets) do
  local got = redis.call('ZREVRANGEBYSCORE', s[1], bound, string.format('%.0f', low), 'WITHSCORES', 'LIMIT', 0, need)
  for i = 1, #got, 2 do found[#found + 1] = {got[i], tonumber(got[i + 1]), got[i + 1], s[2]} end
end
local function after(x, y)  -- byte order, as Redis orders the members of equal scores (not strcoll)
  for i = 1, math.min(#x, #y) do
    local u, v = string.byte(x, i), string.byte(y, i)
    if u ~= v then return u > v end
  end
  return #x > #y
end
table.sort(found, function(x, y)
  if x[2] ~= y[2] then return x[2] > y[2] end
  return after(x[1], y[1])
end)
local out = {total}
for i = skip + 1, math.min(#found, skip + limit) do
  local f = found[i]
  out[#out + 1] = f[4]; out[#out + 1] = f[1]; out[#out + 1] = f[3]
end
return out
"""

# Reads of the live generation: one entry (ARGV 2 field), the oldest holder of a digest (ARGV 2 a
# purpose digit, 3 the raw digest), the counters, and the generation's key base.
GET = "local m, score = find(base(live()), ARGV[2]) if m then return {m, score} end return false"
FIRST = "return first(base(live()), ARGV[2], ARGV[3])"
STATS = "return redis.call('HGETALL', base(live()) .. 'n')"
LIVE = "return base(live())"

# Rebuild: start generation ARGV[2] (returns the live base: every other generation is stale), and
# switch to it once complete (returns the base of the old generation, now unreachable, to clear).
# ``next`` lapses (ARGV[3] s, renewed by every batch) so a rebuild that died stops the double writes.
BEGIN = """
redis.call('SET', P .. 'next', ARGV[2], 'EX', ARGV[3])
return base(live())
"""
SWITCH = """
if redis.call('GET', P .. 'next') ~= ARGV[2] then return redis.error_reply('rebuild superseded') end
local old = live()
redis.call('SET', P .. 'gen', ARGV[2])
redis.call('DEL', P .. 'next')
return base(old)
"""
