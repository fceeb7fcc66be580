package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store"
)

// probeTTL keeps readiness-probe keys from piling up: each is rewritten on every probe.
const probeTTL = 10 * time.Second

// clusterSlots is the size of a Redis Cluster's key space.
const clusterSlots = 16384

// Ping implements store.Store as a readiness probe: it answers nil only if this client can
// write where a request would. A PING would say yes to a server that refuses writes (out of
// memory, a demoted master) and, in a cluster, to a client that reaches one node of several.
// So it writes a short-lived key, and in a cluster one on every master, after checking that
// every slot has one. The write is not fenced: a missing replica acknowledgement fails
// logouts (and shows in the fence metric), but this replica can still serve session checks,
// and taking every server replica out of its Service for it would turn a degraded store into
// a full outage.
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed() {
		return errClosed
	}
	cc, ok := s.client.(*redis.ClusterClient)
	if !ok {
		return wrapErr("readiness probe", s.client.Set(ctx, s.keys.probe(""), "1", probeTTL).Err())
	}
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		s.noteError(err)
		return wrapErr("readiness probe: cluster slots", err)
	}
	if err := slotsCovered(slots); err != nil {
		return fmt.Errorf("redis readiness probe: %w: %w", store.ErrUnavailable, err)
	}
	for _, r := range slots {
		key := s.keys.probe(tagInSlots(r.Start, r.End))
		if err := cc.Set(ctx, key, "1", probeTTL).Err(); err != nil {
			s.noteError(err)
			return wrapErr(fmt.Sprintf("readiness probe of slots %d-%d", r.Start, r.End), err)
		}
	}
	return nil
}

// slotsCovered checks that the slot map gives every slot a master.
func slotsCovered(slots []redis.ClusterSlot) error {
	ranges := slices.Clone(slots)
	slices.SortFunc(ranges, func(a, b redis.ClusterSlot) int { return a.Start - b.Start })
	next := 0
	for _, r := range ranges {
		if r.Start > next {
			break
		}
		if len(r.Nodes) == 0 {
			return fmt.Errorf("slots %d-%d have no master", r.Start, r.End)
		}
		next = max(next, r.End+1)
	}
	if next < clusterSlots {
		return fmt.Errorf("slot %d has no master (the cluster serves part of the key space)", next)
	}
	return nil
}

// tagInSlots returns a hash tag whose slot is in [start, end]: the probe key of that range.
func tagInSlots(start, end int) string {
	for i := 0; ; i++ {
		tag := "probe-" + strconv.Itoa(i)
		if slot := int(crc16(tag) % clusterSlots); slot >= start && slot <= end {
			return tag
		}
	}
}

// crc16 is CRC-16/XMODEM, the hash of Redis Cluster's key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
