package redisstore

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Every atomic step is one Lua script: Redis runs a script alone, so a script is the unit of
// atomicity, and one EVALSHA is one round trip. A script touches only keys that share one hash
// tag, so it runs unchanged on Redis Cluster. Scripts that walk a user's sessions build the
// session keys from the user's tagged base (ARGV "base", `P{u:<id>}:`), which keeps them in the
// same slot as the declared keys.
//
// Times are the caller's, in Unix milliseconds: expiry logic compares stored deadlines with
// the caller's now, and key TTLs (PEXPIRE of deadline - now) only collect garbage. The login
// claim lease is the exception (see claimLoginSrc).
//
// Every script returns an array whose first element is a status word; Go maps the words to
// the store's sentinel errors. Sessions and users come back as arrays of their fields in the
// order of sessionFieldNames and userReplyFieldNames (codec.go), filled in by luaReplacer.

// luaReplacer fills in the scripts' placeholders from the Go field lists, so that a script and
// the decoder cannot disagree on an order: @SESSION_FIELDS@ and @USER_FIELDS@ become the quoted
// lists (for HMGET), @s.<field>@ a session field's 1-based index in a record array, and
// @SESSION_RECORD@ the array built from a session table t (missing fields as false, since a
// nil would end a Lua array early).
var luaReplacer = func() *strings.Replacer {
	quote := func(names []string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = "'" + n + "'"
		}
		return strings.Join(q, ", ")
	}
	record := make([]string, len(sessionFieldNames))
	pairs := []string{"@SESSION_FIELDS@", quote(sessionFieldNames), "@USER_FIELDS@", quote(userReplyFieldNames)}
	for i, n := range sessionFieldNames {
		record[i] = "t." + n + " or false"
		pairs = append(pairs, "@s."+n+"@", fmt.Sprint(i+1))
	}
	pairs = append(pairs, "@SESSION_RECORD@", strings.Join(record, ", "))
	return strings.NewReplacer(pairs...)
}()

// script builds a script from Lua with placeholders (luaReplacer).
func script(src string) *redis.Script { return redis.NewScript(luaReplacer.Replace(src)) }

// prelude holds the helpers the session scripts share. It is prepended to each of them.
const prelude = `
local function num(v) return tonumber(v) or 0 end
local function str(n) return string.format('%d', n) end

local function hmap(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function record(t) return {@SESSION_RECORD@} end

-- deadline: when a session ends if nothing touches it, the earlier of its absolute expiry
-- and the end of its idle window.
local function deadline(s)
  local d = num(s.exp)
  local idle = num(s.idle)
  if idle > 0 and num(s.seen) + idle < d then d = num(s.seen) + idle end
  return d
end

-- authenticates: h is the current token (not past its own expiry) or the previous token
-- inside the buffer.
local function authenticates(s, h, now)
  local texp = num(s.texp)
  if texp > 0 and now >= texp then return false end
  if h == s.tok then return true end
  return s.prev ~= nil and s.prev ~= '' and h == s.prev and now < num(s.pvu)
end

-- touch slides the idle window, never backwards (replicas' clocks differ slightly).
local function touch(skey, s, now)
  if now > num(s.seen) then
    s.seen = str(now)
    redis.call('HSET', skey, 'seen', s.seen)
  end
end

-- keepalive sets the session key's TTL to its deadline. The user's session index needs no
-- care here: createSessionScript gives it a TTL at least as long as the absolute expiry of
-- every session in it, and no deadline is ever later than its session's absolute expiry.
local function keepalive(skey, s, now)
  redis.call('PEXPIRE', skey, str(deadline(s) - now))
end

local function announce(chan, uid, sid, reason, now)
  redis.call('PUBLISH', chan, cjson.encode({u = uid, s = sid, r = reason, t = str(now)}))
end

-- endsession deletes one session of the index and announces it if it was still live.
local function endsession(base, zkey, chan, uid, sid, reason, now)
  local skey = base .. 's:' .. sid
  redis.call('ZREM', zkey, sid)
  local f = redis.call('HMGET', skey, 'exp', 'idle', 'seen')
  if not f[1] then return false end
  redis.call('DEL', skey)
  if now >= deadline({exp = f[1], idle = f[2], seen = f[3]}) then return false end
  announce(chan, uid, sid, reason, now)
  return true
end

-- endall ends every session in the index but keep, oldest first; returns the live ones ended.
local function endall(base, zkey, chan, uid, keep, reason, now)
  local ended = {}
  for _, sid in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do
    if sid ~= keep and endsession(base, zkey, chan, uid, sid, reason, now) then
      ended[#ended + 1] = sid
    end
  end
  -- The tokens of the system the user was imported from are sessions too (legacy.go).
  redis.call('DEL', base .. 'legacy')
  return ended
end
`

func sessionScript(body string) *redis.Script { return script(prelude + body) }

// createSessionScript creates a session after pruning dead entries from the user's index and
// enforcing the device limit of its dialect, in one step.
//
// KEYS: user, index, session. ARGV: now, password guard (empty or ms), max, policy (evict|deny),
// base, channel, user ID, session ID, dialect, then the session's field/value pairs.
var createSessionScript = sessionScript(`
local now = num(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nouser'} end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'pwc') ~= ARGV[2] then return {'conflict'} end
local same = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local skey = ARGV[5] .. 's:' .. sid
  local f = redis.call('HMGET', skey, 'exp', 'idle', 'seen', 'dialect')
  if not f[1] then
    redis.call('ZREM', KEYS[2], sid)
  elseif now >= deadline({exp = f[1], idle = f[2], seen = f[3]}) then
    redis.call('DEL', skey)
    redis.call('ZREM', KEYS[2], sid)
  elseif f[4] == ARGV[9] then
    same[#same + 1] = sid
  end
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'exists'} end
local evicted = {}
local max = num(ARGV[3])
if max > 0 and #same >= max then
  if ARGV[4] == 'deny' then return {'limit'} end
  for i = 1, #same - max + 1 do
    endsession(ARGV[5], KEYS[2], ARGV[6], ARGV[7], same[i], 'evicted', now)
    evicted[#evicted + 1] = same[i]
  end
end
local s = {}
local fields = {}
for i = 10, #ARGV, 2 do
  s[ARGV[i]] = ARGV[i + 1]
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[8])
keepalive(KEYS[3], s, now)
local life = num(s.exp) - now
if redis.call('PTTL', KEYS[2]) < life then redis.call('PEXPIRE', KEYS[2], str(life)) end
return {'ok', evicted}
`)

// touchSessionScript slides a live session's idle window.
//
// KEYS: session, index. ARGV: now.
var touchSessionScript = sessionScript(`
local now = num(ARGV[1])
local s = hmap(KEYS[1])
if not s or now >= deadline(s) then return {'notfound'} end
touch(KEYS[1], s, now)
keepalive(KEYS[1], s, now)
return {'ok', record(s)}
`)

// The two scripts of a session check, validateSessionScript and rotateSessionScript, run on
// every authenticated request, so they are written for the cost inside Redis: one HMGET per
// record instead of HGETALL into Lua tables, no helper closures (the prelude's are created
// anew on every call), records returned as they were read. checkSessionLua and
// slideSessionLua are their shared parts, pasted in: the same rules as the prelude's
// deadline, authenticates, touch and keepalive.

// checkSessionLua reads the session and its user and returns 'invalid' unless the session is
// live and ARGV[2] authenticates it. It leaves s, u, now, exp, idle, seen and h.
const checkSessionLua = `
local now = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], @SESSION_FIELDS@)
if not s[@s.id@] then return {'invalid'} end
local exp, idle, seen = tonumber(s[@s.exp@]) or 0, tonumber(s[@s.idle@]) or 0, tonumber(s[@s.seen@]) or 0
local dl = exp
if idle > 0 and seen + idle < dl then dl = seen + idle end
if now >= dl then return {'invalid'} end
local texp = tonumber(s[@s.texp@]) or 0
if texp > 0 and now >= texp then return {'invalid'} end
local h = ARGV[2]
if h ~= s[@s.tok@] then
  local prev = s[@s.prev@]
  if not prev or prev == '' or h ~= prev or now >= (tonumber(s[@s.pvu@]) or 0) then return {'invalid'} end
end
local u = redis.call('HMGET', KEYS[3], @USER_FIELDS@)
if not u[1] then return {'invalid'} end
`

// slideSessionLua slides the idle window to now (never backwards) and sets the session key's
// TTL to its deadline (the index outlives it already: see keepalive).
const slideSessionLua = `
if now > seen then
  seen = now
  s[@s.seen@] = ARGV[1]
  redis.call('HSET', KEYS[1], 'seen', ARGV[1])
end
local ttl = exp - now
if idle > 0 and seen + idle < exp then ttl = seen + idle - now end
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
`

// validateSessionScript authenticates a token and returns the session and its user.
//
// KEYS: session, index, user. ARGV: now, token hash.
var validateSessionScript = script(checkSessionLua + slideSessionLua + `
return {'ok', s, u}
`)

// checkSessionScript is validateSessionScript without the slide, flagged no-writes so that
// Redis runs it when it refuses writes (out of memory, a read-only replica): a session check
// then still answers, without sliding the idle window (Store.ValidateSession).
//
// KEYS: session, index, user. ARGV: now, token hash.
var checkSessionScript = script("#!lua flags=no-writes\n" + checkSessionLua + `
return {'ok', s, u}
`)

// rotateSessionScript is devise's validate-and-rotate (DESIGN.md): echo inside the buffer,
// rotate to the caller-derived successor outside it, accept the previous token inside the
// buffer by answering with its successor, which is current.
//
// KEYS: session, index, user. ARGV: now, presented hash, successor hash, buffer (ms),
// dialect (” for any).
var rotateSessionScript = script(checkSessionLua + `
if ARGV[5] ~= '' and s[@s.dialect@] ~= ARGV[5] then return {'invalid'} end
local outcome
if h == s[@s.tok@] then
  if now - (tonumber(s[@s.rot@]) or 0) < tonumber(ARGV[4]) then
    outcome = 'echoed'
  else
    outcome = 'rotated'
    s[@s.prev@], s[@s.tok@], s[@s.rot@], s[@s.pvu@] = s[@s.tok@], ARGV[3], ARGV[1], string.format('%d', now + tonumber(ARGV[4]))
    redis.call('HSET', KEYS[1], 'prev', s[@s.prev@], 'tok', s[@s.tok@], 'rot', s[@s.rot@], 'pvu', s[@s.pvu@])
  end
elseif ARGV[3] == s[@s.tok@] then
  outcome = 'previous'
else
  -- the previous token, but its successor is not current: the caller derived it otherwise.
  return {'invalid'}
end
` + slideSessionLua + `
return {outcome, s, u}
`)

// refreshSessionScript exchanges a refresh token, with reuse detection: a spent refresh token
// presented again ends the session, unless the session already holds this very request's new
// refresh hash (a retry after a lost reply).
//
// KEYS: session, index, user. ARGV: now, presented refresh hash, new token hash, new refresh
// hash, token expiry (ms or 0), max spent, base, channel, user ID, session ID.
var refreshSessionScript = sessionScript(`
local now = num(ARGV[1])
local s = hmap(KEYS[1])
if not s or now >= deadline(s) then return {'invalid'} end
local u = redis.call('HMGET', KEYS[3], @USER_FIELDS@)
if not u[1] then return {'invalid'} end
local p = ARGV[2]
local spent = s.spent or ''
if s.ref ~= nil and s.ref ~= '' and p == s.ref then
  local list = {p}
  for h in string.gmatch(spent, '%S+') do
    if #list >= num(ARGV[6]) then break end
    list[#list + 1] = h
  end
  s.spent, s.tok, s.ref, s.texp, s.prev, s.pvu, s.rot =
    table.concat(list, ' '), ARGV[3], ARGV[4], ARGV[5], '', '0', ARGV[1]
  redis.call('HSET', KEYS[1], 'spent', s.spent, 'tok', s.tok, 'ref', s.ref, 'texp', s.texp,
    'prev', s.prev, 'pvu', s.pvu, 'rot', s.rot)
elseif string.find(' ' .. spent .. ' ', ' ' .. p .. ' ', 1, true) then
  if s.ref ~= ARGV[4] then
    endsession(ARGV[7], KEYS[2], ARGV[8], ARGV[9], ARGV[10], 'refresh-reuse', now)
    return {'reused'}
  end
else
  return {'invalid'}
end
touch(KEYS[1], s, now)
keepalive(KEYS[1], s, now)
return {'ok', record(s), u}
`)

// revokeSessionScript ends one session, optionally authenticated by its token.
//
// KEYS: session, index. ARGV: now, token hash or empty, reason, channel, user ID, session ID.
var revokeSessionScript = sessionScript(`
local now = num(ARGV[1])
local s = hmap(KEYS[1])
if not s then
  redis.call('ZREM', KEYS[2], ARGV[6])
  return {'notfound'}
end
if now >= deadline(s) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[6])
  return {'notfound'}
end
if ARGV[2] ~= '' and not authenticates(s, ARGV[2], now) then return {'invalid'} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[6])
announce(ARGV[4], ARGV[5], ARGV[6], ARGV[3], now)
return {'ok', record(s)}
`)

// revokeAllScript ends every session of a user but one.
//
// KEYS: index. ARGV: now, kept session ID or empty, reason, base, channel, user ID.
var revokeAllScript = sessionScript(`
return {'ok', endall(ARGV[4], KEYS[1], ARGV[5], ARGV[6], ARGV[2], ARGV[3], num(ARGV[1]))}
`)

// listSessionsScript returns every session record in a user's index, each as its HGETALL
// pairs; the caller keeps the live ones. Read only, so a replica could serve it.
//
// KEYS: index. ARGV: base.
var listSessionsScript = script(`#!lua flags=no-writes
local out = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HGETALL', ARGV[1] .. 's:' .. sid)
  if #h > 0 then out[#out + 1] = h end
end
return out
`)

// deleteUserScript ends every session of a user (announcing the live ones) and deletes the
// user's record, index, one-time and legacy tokens, in one step; it returns the login, whose claim
// and counter live in other slots.
//
// KEYS: user, index, reset token, confirmation token, legacy tokens. ARGV: now, reason, base,
// channel, user ID.
var deleteUserScript = sessionScript(`
local login = redis.call('HGET', KEYS[1], 'login')
if not login then return {'notfound'} end
local ended = endall(ARGV[3], KEYS[2], ARGV[4], ARGV[5], '', ARGV[2], num(ARGV[1]))
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return {'ok', login, ended}
`)

// dropLoginClaimScript deletes a login's claim if it names the user, whatever its nonce.
//
// KEYS: login. ARGV: user ID.
var dropLoginClaimScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return {'ok'}
`)

// spendPasswordChangeScript clears a live session's leave to change the password without the
// current one, if the leave has not run out.
//
// KEYS: session. ARGV: now.
var spendPasswordChangeScript = sessionScript(`
local now = num(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'exp', 'idle', 'seen', 'pcu')
if not f[1] or now >= deadline({exp = f[1], idle = f[2], seen = f[3]}) then return {'notfound'} end
if now >= num(f[4]) then return {'none'} end
redis.call('HSET', KEYS[1], 'pcu', '0')
return {'ok'}
`)

// setPasswordScript replaces the password hash, cancels the reset token and ends the other
// sessions, in one step: no session minted under the old password survives the change.
//
// KEYS: user, index, reset token. ARGV: now, password hash, kept session ID or empty, base,
// channel, user ID.
var setPasswordScript = sessionScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'notfound'} end
redis.call('HSET', KEYS[1], 'pw', ARGV[2], 'pwc', ARGV[1], 'upd', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('DEL', KEYS[3])
return {'ok', endall(ARGV[4], KEYS[2], ARGV[5], ARGV[6], ARGV[3], 'password-changed', num(ARGV[1]))}
`)

// rehashPasswordScript replaces the password hash if it is still the one the caller verified.
//
// KEYS: user. ARGV: old hash, new hash.
var rehashPasswordScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'pw')
if not cur then return {'notfound'} end
if cur ~= ARGV[1] then return {'conflict'} end
redis.call('HSET', KEYS[1], 'pw', ARGV[2])
return {'ok'}
`)

// The login index. A login key `P{l:<login>}:login` is a claim {id, lease, nonce} on a login.
// Creating a user or changing its login spans two hash slots (the login's and the user's), so
// it is two steps: claim the login, then write the user. A claim is valid while its lease runs
// or, after that, while the user it names holds that login; anything else is stale (its writer
// died or gave up) and may be taken over. The lease is measured on the Redis clock (TIME),
// because it guards against a stalled writer, whose own clock has stopped with it: the write
// step refuses to commit after the lease, and a takeover waits a margin beyond it to absorb
// clock skew between cluster nodes. The nonce lets a writer release only its own claim.

// claimLoginScript claims a login for a user: a free login, or one the user already holds
// whose lease has run out (a rename back, or a retry). It says which, since only a new claim
// is the caller's to release if its write fails.
//
// KEYS: login. ARGV: user ID, nonce, lease (ms).
var claimLoginScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HMGET', KEYS[1], 'id', 'lease', 'nonce')
if not cur[1] or (cur[1] == ARGV[1] and now >= tonumber(cur[2])) then
  local lease = string.format('%d', now + tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'lease', lease, 'nonce', ARGV[2])
  return {'ok', lease, cur[1] and 'renewed' or 'new'}
end
if cur[1] == ARGV[1] then return {'busy'} end
return {'held', cur[1], cur[2], cur[3], string.format('%d', now)}
`)

// takeOverLoginScript replaces a stale claim, if it is still the one that was judged stale.
//
// KEYS: login. ARGV: stale holder ID, stale nonce, user ID, nonce, lease (ms).
var takeOverLoginScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'id', 'nonce')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return {'lost'} end
local t = redis.call('TIME')
local lease = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'lease', lease, 'nonce', ARGV[4])
return {'ok', lease}
`)

// releaseLoginScript drops a claim if it is still the caller's.
//
// KEYS: login. ARGV: user ID, nonce.
var releaseLoginScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'id', 'nonce')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then redis.call('DEL', KEYS[1]) end
return {'ok'}
`)

// writeUserScript creates a user, or updates one if its revision is still the one read. With
// a lease, it commits only before the lease ends (on the Redis clock).
//
// KEYS: user. ARGV: create|update, expected revision, lease (ms or 0), field/value pairs.
var writeUserScript = redis.NewScript(`
local function lapsed()
  local lease = tonumber(ARGV[3])
  if lease == 0 then return false end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= lease
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
if ARGV[1] == 'create' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
  if lapsed() then return {'lease'} end
  redis.call('HSET', KEYS[1], 'rev', '1', unpack(fields))
  return {'ok'}
end
local rev = redis.call('HGET', KEYS[1], 'rev')
if not rev then return {'notfound'} end
if rev ~= ARGV[2] then return {'conflict'} end
if lapsed() then return {'lease'} end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return {'ok'}
`)

// issueOneTimeScript stores a user's one-time token of a kind beside the newest keep-1 live
// ones (fields: token hash -> expiry in ms), dropping expired ones and the oldest beyond keep.
// A record of the old layout (fields h and exp: one token) is replaced.
//
// KEYS: user, token. ARGV: hash, expiry (ms), now (ms), keep.
var issueOneTimeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nouser'} end
local now, keep = tonumber(ARGV[3]), math.max(tonumber(ARGV[4]), 1)
local live = {}
if redis.call('HEXISTS', KEYS[2], 'h') == 0 then
  local f = redis.call('HGETALL', KEYS[2])
  for i = 1, #f, 2 do
    local exp = tonumber(f[i + 1])
    if exp > now then live[#live + 1] = {f[i], exp} end
  end
end
table.sort(live, function(a, b) return a[2] > b[2] end)
redis.call('DEL', KEYS[2])
local last = tonumber(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for i = 1, math.min(#live, keep - 1) do
  redis.call('HSET', KEYS[2], live[i][1], string.format('%d', live[i][2]))
  last = math.max(last, live[i][2])
end
redis.call('PEXPIRE', KEYS[2], string.format('%d', math.max(last - now, 1)))
return {'ok'}
`)

// consumeOneTimeScript spends a user's one-time tokens of a kind if the hash is a live one;
// a wrong hash leaves them in place. It also reads the old layout (fields h and exp).
//
// KEYS: token. ARGV: hash, now.
var consumeOneTimeScript = redis.NewScript(`
local now = tonumber(ARGV[2])
local exp = redis.call('HGET', KEYS[1], ARGV[1])
if not exp then
  local f = redis.call('HMGET', KEYS[1], 'h', 'exp')
  if f[1] ~= ARGV[1] then return {'invalid'} end
  exp = f[2]
end
if now >= tonumber(exp) then return {'invalid'} end
redis.call('DEL', KEYS[1])
return {'ok'}
`)

// recordFailureScript counts a failure in a fixed window, holds the subject back by the
// progressive delay past the free failures, and locks at the limit. A failure while locked
// (or held back) is not counted.
//
// KEYS: counter. ARGV: now, max failures, window (ms), lockout (ms), delay (ms), free failures.
var recordFailureScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'n', 'wend', 'lock')
local lock = tonumber(f[3]) or 0
local n, wend = tonumber(f[1]) or 0, tonumber(f[2]) or 0
if now < lock then
  if now >= wend then n = 0 end
  return {'locked', string.format('%d', lock), string.format('%d', n)}
end
if now >= wend then n, wend = 0, now + tonumber(ARGV[3]) end
n = n + 1
local lockout, delay, free = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('DEL', KEYS[1])
if n >= tonumber(ARGV[2]) then
  lock = now + lockout
  redis.call('HSET', KEYS[1], 'lock', string.format('%d', lock))
  redis.call('PEXPIRE', KEYS[1], lockout)
  return {'locked', string.format('%d', lock), '0'}
end
local fields = {'n', string.format('%d', n), 'wend', string.format('%d', wend)}
local status, ends = 'open', wend
if delay > 0 and n > free then
  local d = delay
  for i = free + 2, n do
    if d >= lockout then break end
    d = d * 2
  end
  lock = now + math.min(d, lockout)
  fields[5], fields[6] = 'lock', string.format('%d', lock)
  status, ends = 'locked', math.max(wend, lock)
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], string.format('%d', ends - now))
return {status, string.format('%d', lock), string.format('%d', n)}
`)

// putDeviceTokenScript replaces one device token of a client and records it in the client's
// index, which is pruned of expired entries and kept alive as long as its latest token.
//
// KEYS: token, index. ARGV: now, expiry (ms), hash, field/value pairs.
var putDeviceTokenScript = redis.NewScript(`
local now, exp = tonumber(ARGV[1]), tonumber(ARGV[2])
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.max(exp - now, 1)))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], string.format('%d', math.max(tonumber(last[2]) - now, 1)))
return {'ok'}
`)

// listDeviceTokensScript returns a client's unexpired device tokens, soonest expiry first,
// as hash, record pairs. A hash whose record is gone (deleted by hand) is skipped.
//
// KEYS: index. ARGV: now, the client's key base (P{c:<id>}:).
var listDeviceTokensScript = redis.NewScript(`
local out = {}
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  local rec = redis.call('HGETALL', ARGV[2] .. 'dt:' .. h)
  if #rec > 0 then
    out[#out + 1] = h
    out[#out + 1] = rec
  end
end
return {'ok', out}
`)

// deleteDeviceTokenScript removes one device token and its index entry.
//
// KEYS: token, index. ARGV: hash.
var deleteDeviceTokenScript = redis.NewScript(`
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if n == 0 then return {'missing'} end
return {'ok'}
`)

// deleteAllDeviceTokensScript removes every device token of a client and its index, and
// counts those unexpired at now.
//
// KEYS: index. ARGV: now, the client's key base (P{c:<id>}:).
var deleteAllDeviceTokensScript = redis.NewScript(`
local now, n = tonumber(ARGV[1]), 0
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  redis.call('DEL', ARGV[2] .. 'dt:' .. entries[i])
  if tonumber(entries[i + 1]) > now then n = n + 1 end
end
redis.call('DEL', KEYS[1])
return {'ok', string.format('%d', n)}
`)

// trackClientSessionScript files a session under its client: the index is a sorted set of
// "<userID>.<sessionID>" scored by the session's absolute expiry, pruned of expired entries on
// every add and kept until its last entry expires.
//
// With ARGV[4] = '1' it first requires the client's app-client record, in the same slot.
//
// KEYS: index, app client. ARGV: now, expiry, member, require registered ('1' or '0').
var trackClientSessionScript = redis.NewScript(`
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then return {'noclient'} end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.max(tonumber(last[2]) - now, 1)))
return {'ok'}
`)

// allScripts are loaded at startup by LoadScripts, so the first request of each kind is one
// round trip too.
var allScripts = []*redis.Script{
	createSessionScript, touchSessionScript, validateSessionScript, checkSessionScript, rotateSessionScript,
	refreshSessionScript, revokeSessionScript, revokeAllScript, setPasswordScript,
	claimLoginScript, takeOverLoginScript, releaseLoginScript, writeUserScript,
	listSessionsScript, deleteUserScript, dropLoginClaimScript,
	issueOneTimeScript, consumeOneTimeScript, recordFailureScript,
	putDeviceTokenScript, listDeviceTokensScript, deleteDeviceTokenScript, deleteAllDeviceTokensScript,
	trackClientSessionScript, rehashPasswordScript, spendPasswordChangeScript,
}
