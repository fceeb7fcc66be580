package childproc

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// readyEvery is how often WaitReady checks a starting child: often enough that a test or a
// bench waits for no more than a moment past the child's readiness.
const readyEvery = 20 * time.Millisecond

// WaitReady calls check every 20 ms until it returns nil. It gives up when the child exits
// first or timeout passes; the error then has check's last error and the child's Output, as
// that is what tells why it did not come up. check's context ends at the timeout.
func (p *Process) WaitReady(timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t := time.NewTicker(readyEvery)
	defer t.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during startup (%v); last check: %v%s", p.spec.Path, p.err, err, p.outputForError())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v%s", p.spec.Path, timeout, err, p.outputForError())
		case <-t.C:
		}
	}
}

func (p *Process) outputForError() string {
	if out := p.Output(); out != "" {
		return "; output:\n" + out
	}
	return ""
}

// Poll calls check every interval until it returns nil or ctx ends; the error then wraps
// ctx's and check's last, so it says what was awaited. It is WaitReady for what is no single
// process: a topology converging, a supervised child that may be restarted meanwhile.
func Poll(ctx context.Context, interval time.Duration, check func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting: %w", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// probeClient bounds each readiness GET, so that a child that accepts but never answers costs
// one attempt, not the whole wait.
var probeClient = &http.Client{Timeout: 2 * time.Second}

// GetOK is a readiness check: a GET of url answers 200 (a /readyz).
func GetOK(ctx context.Context, url string) error { return GetOKWith(ctx, probeClient, url) }

// GetOKWith is GetOK through client (one that trusts a component's self-signed certificate,
// say); the client should bound each attempt as GetOK's does.
func GetOKWith(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
