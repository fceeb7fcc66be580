package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/internal/childproc"
)

const redisStartTimeout = 30 * time.Second

// startRedis runs a password-protected redis-server on loopback, without persistence: the
// stack's data lives as long as the stack. It is supervised like the other children, so a
// crash restarts it (empty; the operator re-registers device clients on its next resync).
func startRedis(ctx context.Context, bin, dir string, port int, log *syncWriter) (sup *supervisor, addr, password string, err error) {
	if port == 0 {
		if port, err = childproc.FreePort(); err != nil {
			return nil, "", "", err
		}
	}
	password, err = randomSecret()
	if err != nil {
		return nil, "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", "", fmt.Errorf("create the redis directory: %w", err)
	}
	addr = childproc.Loopback(port)
	logPath := filepath.Join(dir, "redis.log")
	// The password goes in a file, not on the command line every local user can read.
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %q\nsave \"\"\nappendonly no\ndaemonize no\nlogfile %q\nrequirepass %q\n",
		port, dir, logPath, password)
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, "", "", fmt.Errorf("write the redis config: %w", err)
	}
	sup = supervise(command{Name: "redis", Path: bin, Dir: dir, Args: []string{confPath}}, log, 10*time.Second, nil)

	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	wait, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	ping := func(ctx context.Context) error { return c.Ping(ctx).Err() }
	if err := childproc.Poll(wait, 50*time.Millisecond, ping); err != nil {
		sup.Stop()
		return nil, "", "", fmt.Errorf("redis-server on %s did not answer PING within %s (%w); log %s:\n%s", addr, redisStartTimeout, err, logPath, childproc.TailFile(logPath, 20))
	}
	return sup, addr, password, nil
}

func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return hex.EncodeToString(b), nil
}
