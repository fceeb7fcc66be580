// Package redisstore is the Redis store backend (standalone, Sentinel or Cluster), one Lua script per atomic step.
package redisstore
