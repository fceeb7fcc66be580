package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The redis image must run the way the operator renders the managed Redis StatefulSet
// (controllers' buildRedisStatefulSet): no entrypoint, args starting with redis-server found
// on the image's PATH, user 999, AOF in /data, the password from an included file of the
// Secret, and probes that run redis-cli with no shell.
func TestRedisImage(t *testing.T) {
	oci, root, headers := open(t, "redis")
	c := oci.config.Config
	checkUser(t, oci, fmt.Sprintf("%d:%d", redisUID, redisUID))
	if len(c.Entrypoint) != 0 || !slices.Equal(c.Cmd, []string{"redis-server"}) {
		t.Errorf("entrypoint %q cmd %q, want none and [redis-server]: the StatefulSet's args start with redis-server", c.Entrypoint, c.Cmd)
	}
	if !slices.Contains(c.Env, "PATH=/usr/bin") {
		t.Errorf("env = %q, want PATH=/usr/bin", c.Env)
	}
	for _, f := range []string{"usr/bin/redis-server", "usr/bin/redis-cli", "lib64/ld-linux-x86-64.so.2"} {
		if h := headers[f]; h == nil || h.Uid != 0 {
			t.Errorf("/%s: %+v, want a root-owned file", f, h)
		}
	}
	if h := headers["data"]; h == nil || h.Uid != redisUID || h.Gid != redisUID || h.Mode != 0o750 {
		t.Errorf("/data: %+v, want a 0750 directory of %d:%d", h, redisUID, redisUID)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.HasPrefix(string(b), "redis:x:999:999:") {
		t.Errorf("/etc/passwd = %q, want the redis user 999", b)
	}
	out, err := inRoot(root, redisUID, "/usr/bin/redis-server", "--version").CombinedOutput()
	if want := "v=" + tagOf(images(t)["redis"].ref); err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("redis-server --version: %v\n%s\nwant %s", err, out, want)
	}

	// The Secret's auth.conf as the kubelet mounts it: 0440, the pod's fsGroup.
	password := "s3cret pass"
	authDir := filepath.Join(root, "etc/redis/auth")
	if err := os.MkdirAll(authDir, 0o755); err != nil {
		t.Fatal(err)
	}
	authFile := filepath.Join(authDir, "auth.conf")
	if err := os.WriteFile(authFile, []byte("requirepass \""+password+"\"\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(authFile, 0, redisUID); err != nil {
			t.Fatal(err)
		}
	}
	port := strconv.Itoa(freeTCPPort(t))
	addr := "127.0.0.1:" + port
	args := []string{"redis-server", "--port", port, "--appendonly", "yes", "--appendfsync", "everysec",
		"--dir", "/data", "--protected-mode", "no", "--include", "/etc/redis/auth/auth.conf", "--bind", "127.0.0.1"}
	if os.Geteuid() != 0 {
		// Without chroot the image's paths are under root: the AOF dir and the include.
		args[8], args[12] = filepath.Join(root, "data"), authFile
	}
	// argv[0] is "redis-server" as the runtime passes it after its PATH lookup: Debian's
	// binary picks server or check mode by that name.
	server := inRoot(root, redisUID, "/usr/bin/redis-server", args[1:]...)
	server.Args[0] = "redis-server"
	server.Env = c.Env
	var log lockedLog
	server.Stdout, server.Stderr = &log, &log
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = server.Process.Kill()
			_ = server.Wait()
		}
	})

	var replies []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		replies, err = redisSession(addr, []string{"AUTH", password}, []string{"SET", "k", "v"}, []string{"PING"})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || !slices.Equal(replies, []string{"+OK", "+OK", "+PONG"}) {
		t.Fatalf("AUTH, SET, PING = %q, %v; redis-server's output:\n%s", replies, err, log.String())
	}
	if r, err := redisSession(addr, []string{"PING"}); err != nil || len(r) != 1 || !strings.HasPrefix(r[0], "-NOAUTH") {
		t.Errorf("PING without the password = %q, %v, want NOAUTH", r, err)
	}

	// The probes, run from the image as the kubelet runs them: no shell.
	probe := func(auth string, argv ...string) error {
		cmd := inRoot(root, redisUID, "/usr/bin/redis-cli", argv[1:]...)
		cmd.Args[0] = argv[0]
		cmd.Env = append(slices.Clone(c.Env), "REDISCLI_AUTH="+auth)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	readiness := []string{"redis-cli", "-e", "-p", port, "ping"}
	liveness := []string{"redis-cli", "-p", port, "ping"}
	if err := probe(password, readiness...); err != nil {
		t.Errorf("readiness probe against a healthy Redis: %v", err)
	}
	if err := probe("wrong", readiness...); err == nil {
		t.Error("readiness probe passed with a wrong password: an error reply must fail it")
	}
	if err := probe(password, liveness...); err != nil {
		t.Errorf("liveness probe against a healthy Redis: %v", err)
	}

	if _, err := os.Stat(filepath.Join(root, "data", "appendonlydir")); err != nil {
		t.Errorf("no AOF in /data: %v", err)
	}
	// SIGTERM, as the kubelet stops the pod: Redis saves and exits 0.
	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := server.Wait(); err != nil {
		t.Errorf("redis-server after SIGTERM: %v\n%s", err, log.String())
	}
}

// redisSession sends commands on one connection and returns the first line of each reply.
func redisSession(addr string, cmds ...[]string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	var replies []string
	for range cmds {
		line, err := r.ReadString('\n')
		if err != nil {
			return replies, err
		}
		replies = append(replies, strings.TrimSpace(line))
	}
	return replies, nil
}

// lockedLog collects a process's output while the test may read it.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
