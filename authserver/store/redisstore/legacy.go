package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store"
)

// Legacy tokens live in one hash per user, `P{u:<userID>}:legacy`, in the user's slot: field
// client ID, value "<expiry ms> <spent-until ms or 0> <hash>" (a bcrypt hash has no spaces).
// The key's TTL is its latest expiry, set at each put; a spent or expired field is dropped at
// the next put and otherwise with the key.

func init() {
	allScripts = append(allScripts, putLegacyTokensScript, spendLegacyTokenScript, addImportedHashesScript)
}

func (k keys) legacyTokens(uid string) string { return k.userBase(uid) + "legacy" }

// PutLegacyTokens implements store.Store in one step.
func (s *Store) PutLegacyTokens(ctx context.Context, userID string, tokens []store.LegacyToken, now time.Time) error {
	if err := store.ValidateLegacyTokens(tokens, now); err != nil {
		return err
	}
	if !store.ValidID(userID) {
		return store.ErrNotFound
	}
	args := []any{msString(now), store.MaxLegacyTokens}
	for _, t := range tokens {
		args = append(args, t.Client, msString(t.ExpiresAt), t.Hash)
	}
	res, err := s.write(ctx, "put legacy tokens", putLegacyTokensScript,
		[]string{s.keys.user(userID), s.keys.legacyTokens(userID)}, args...)
	if err != nil {
		return err
	}
	switch status(res) {
	case "ok":
		return nil
	case "nouser":
		return store.ErrNotFound
	case "toomany":
		return store.ErrInvalidArgument
	}
	return unexpected("put legacy tokens", res)
}

// GetLegacyToken implements store.Store with one HGET.
func (s *Store) GetLegacyToken(ctx context.Context, userID, client string, now time.Time) (store.LegacyToken, error) {
	if !store.ValidID(userID) || !store.ValidClientID(client) {
		return store.LegacyToken{}, store.ErrNotFound
	}
	if s.isClosed() {
		return store.LegacyToken{}, errClosed
	}
	v, err := s.client.HGet(ctx, s.keys.legacyTokens(userID), client).Result()
	if errors.Is(err, redis.Nil) {
		return store.LegacyToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.LegacyToken{}, wrapErr("get legacy token", err)
	}
	t, ok := decodeLegacyToken(client, v)
	if !ok || !t.Exchangeable(now) {
		return store.LegacyToken{}, store.ErrNotFound
	}
	return t, nil
}

func decodeLegacyToken(client, v string) (store.LegacyToken, bool) {
	f := strings.SplitN(v, " ", 3)
	if len(f) != 3 {
		return store.LegacyToken{}, false
	}
	if _, err := strconv.ParseInt(f[0], 10, 64); err != nil {
		return store.LegacyToken{}, false
	}
	return store.LegacyToken{Client: client, ExpiresAt: parseMS(f[0]), SpentUntil: parseMS(f[1]), Hash: f[2]}, true
}

// SpendLegacyToken implements store.Store in one step.
func (s *Store) SpendLegacyToken(ctx context.Context, userID, client, hash string, grace time.Duration, now time.Time) (bool, error) {
	if !store.ValidID(userID) || !store.ValidClientID(client) || hash == "" {
		return false, store.ErrInvalidToken
	}
	until := now.Add(grace)
	res, err := s.write(ctx, "spend legacy token", spendLegacyTokenScript,
		[]string{s.keys.legacyTokens(userID)}, client, hash, msString(now), strconv.FormatInt(max(until.UnixMilli(), 1), 10))
	if err != nil {
		return false, err
	}
	switch status(res) {
	case "first":
		return true, nil
	case "again":
		return false, nil
	case "invalid":
		return false, store.ErrInvalidToken
	}
	return false, unexpected("spend legacy token", res)
}

// putLegacyTokensScript stores a user's legacy tokens beside the exchangeable ones it holds,
// refusing to pass the maximum, and sets the key's TTL to the latest expiry.
//
// KEYS: user, legacy tokens. ARGV: now, max, then (client, expiry ms, hash) per token.
var putLegacyTokensScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nouser'} end
local now, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local new = {}
for i = 3, #ARGV, 3 do new[ARGV[i]] = true end
local f = redis.call('HGETALL', KEYS[2])
local dead, count, last = {}, 0, 0
for i = 1, #f, 2 do
  local exp, spent = string.match(f[i + 1], '^(%d+) (%d+) ')
  exp, spent = tonumber(exp) or 0, tonumber(spent) or 0
  if exp <= now or (spent > 0 and spent <= now) then
    dead[#dead + 1] = f[i]
  elseif not new[f[i]] then
    count, last = count + 1, math.max(last, exp)
  end
end
for i = 3, #ARGV, 3 do
  count, last = count + 1, math.max(last, tonumber(ARGV[i + 1]))
end
if count > max then return {'toomany'} end
if #dead > 0 then redis.call('HDEL', KEYS[2], unpack(dead)) end
for i = 3, #ARGV, 3 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1] .. ' 0 ' .. ARGV[i + 2])
end
if last > now then redis.call('PEXPIRE', KEYS[2], string.format('%d', last - now)) end
return {'ok'}
`)

// spendLegacyTokenScript exchanges a legacy token whose hash the caller verified: the first
// time it records until when racing requests may exchange it too.
//
// KEYS: legacy tokens. ARGV: client, hash, now, spent-until (ms).
var spendLegacyTokenScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {'invalid'} end
local exp, spent, h = string.match(v, '^(%d+) (%d+) (.+)$')
local now = tonumber(ARGV[3])
if h ~= ARGV[2] or (tonumber(exp) or 0) <= now then return {'invalid'} end
if spent == '0' then
  redis.call('HSET', KEYS[1], ARGV[1], exp .. ' ' .. ARGV[4] .. ' ' .. h)
  return {'first'}
end
if now < tonumber(spent) then return {'again'} end
return {'invalid'}
`)

// The imported-hash record is one hash, `P imported-hashes`: field "remaining" holds the
// count, and "twin:<scheme>" holds "<cost> <hash>" for each scheme.
func (k keys) importedHashes() string { return k.prefix + "imported-hashes" }

// AddImportedHashes implements store.Store in one step.
func (s *Store) AddImportedHashes(ctx context.Context, n int64, twins []store.HashTwin) error {
	if err := store.ValidateHashTwins(twins); err != nil {
		return err
	}
	args := []any{n, store.MaxHashTwins}
	for _, t := range twins {
		args = append(args, t.Scheme, t.Cost, t.Hash)
	}
	res, err := s.write(ctx, "add imported hashes", addImportedHashesScript, []string{s.keys.importedHashes()}, args...)
	if err != nil {
		return err
	}
	if status(res) != "ok" {
		return unexpected("add imported hashes", res)
	}
	return nil
}

// ImportedHashes implements store.Store with one HGETALL.
func (s *Store) ImportedHashes(ctx context.Context) (store.ImportedHashRecord, error) {
	if s.isClosed() {
		return store.ImportedHashRecord{}, errClosed
	}
	f, err := s.client.HGetAll(ctx, s.keys.importedHashes()).Result()
	if err != nil {
		return store.ImportedHashRecord{}, wrapErr("get imported hashes", err)
	}
	var r store.ImportedHashRecord
	r.Remaining, _ = strconv.ParseInt(f["remaining"], 10, 64)
	if r.Remaining <= 0 {
		return store.ImportedHashRecord{}, nil
	}
	for k, v := range f {
		scheme, ok := strings.CutPrefix(k, "twin:")
		if !ok {
			continue
		}
		cost, hash, _ := strings.Cut(v, " ")
		c, err := strconv.ParseInt(cost, 10, 64)
		if err != nil || hash == "" {
			continue
		}
		r.Twins = append(r.Twins, store.HashTwin{Scheme: scheme, Cost: c, Hash: hash})
	}
	slices.SortFunc(r.Twins, func(a, b store.HashTwin) int { return strings.Compare(a.Scheme, b.Scheme) })
	return r, nil
}

// addImportedHashesScript adds to the count and keeps each scheme's costliest twin, removing
// the record when the count reaches 0.
//
// KEYS: the record. ARGV: n, the most twins, then (scheme, cost, hash) per twin.
var addImportedHashesScript = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], 'remaining', ARGV[1])
if n <= 0 then
  redis.call('DEL', KEYS[1])
  return {'ok'}
end
local have = redis.call('HLEN', KEYS[1]) - 1
for i = 3, #ARGV, 3 do
  local f = 'twin:' .. ARGV[i]
  local cur = redis.call('HGET', KEYS[1], f)
  if cur then
    if tonumber(string.match(cur, '^(%d+) ')) < tonumber(ARGV[i + 1]) then
      redis.call('HSET', KEYS[1], f, ARGV[i + 1] .. ' ' .. ARGV[i + 2])
    end
  elseif have < tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], f, ARGV[i + 1] .. ' ' .. ARGV[i + 2])
    have = have + 1
  end
end
return {'ok'}
`)
