package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

// benchPassword is every bench user's password.
const benchPassword = "bench-password-1"

// cheapArgon2 are the hashing parameters of the servers whose suites do not measure hashing
// (session checks, sockets): a session check hashes nothing, and cheap parameters make the
// setup's registrations and logins quick.
var cheapArgon2 = config.Argon2{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}

// hashKey returns the token hash key file every server of the run shares (replicas of one
// realm share it, so a session issued by one is checked by the other).
func (b *bench) hashKey() (config.Secret, error) {
	path := filepath.Join(b.dir, "token-hash-key")
	if _, err := os.Stat(path); err == nil {
		return config.Secret{File: path}, nil
	}
	key := make([]byte, 48)
	_, _ = rand.Read(key)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return config.Secret{}, err
	}
	return config.Secret{File: path}, nil
}

// serverConfig is the base config of the bench's servers: production defaults except the
// loopback listeners on free ports, the shared Redis and key, the admin port's pprof
// (profiles, and forced collections before heap readings), and the registration rate limit,
// raised as a load test raises it: the bench registers thousands of users from one address.
func (b *bench) serverConfig(redisAddr, keyPrefix string) (*config.Config, error) {
	key, err := b.hashKey()
	if err != nil {
		return nil, err
	}
	return &config.Config{
		Realm:        "bench",
		Listen:       config.Listen{Public: "127.0.0.1:0", Admin: "127.0.0.1:0", Pprof: true},
		Redis:        &config.Redis{Addresses: []string{redisAddr}, KeyPrefix: keyPrefix},
		TokenHashKey: key,
		Email:        config.Email{ResetURL: "https://app.bench.test/reset"},
		RateLimits:   config.RateLimits{Register: config.RateLimit{PerIP: 1_000_000}},
	}, nil
}

// apiClient is the setup's HTTP client: plain net/http, for requests that are not measured.
var apiClient = &http.Client{Timeout: 60 * time.Second}

// postJSON posts body to url and decodes a 2xx JSON answer into out (if not nil); it
// returns the response headers.
func postJSON(ctx context.Context, url string, body, out any) (http.Header, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := apiClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("POST %s: %s: %s", url, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("POST %s: %w", url, err)
		}
	}
	return resp.Header, nil
}

// cookieValue returns the value of the named cookie set by a response.
func cookieValue(h http.Header, name string) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// registerAccount registers login through the account dialect and returns the user ID and
// the session token of the cookie it sets.
func registerAccount(ctx context.Context, base, login string) (userID, token string, err error) {
	var u struct {
		ID string `json:"id"`
	}
	h, err := postJSON(ctx, base+"/account/register", map[string]string{
		"login": login, "password": benchPassword, "firstName": "Bench", "lastName": "User",
	}, &u)
	if err != nil {
		return "", "", err
	}
	token = cookieValue(h, "latch_session")
	if u.ID == "" || token == "" {
		return "", "", fmt.Errorf("register %s: no user id or no session cookie", login)
	}
	return u.ID, token, nil
}

// parallel runs f(i) for i in [0, n) on at most workers goroutines and returns the first error.
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= n || first != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// saveURL writes the body of a GET of url to path.
func saveURL(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
