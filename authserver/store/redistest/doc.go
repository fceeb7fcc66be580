// Package redistest starts real redis-server processes (standalone or a three-master cluster) for tests.
package redistest
