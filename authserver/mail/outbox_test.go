package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

// fakeMailer counts sends and answers each with result(n), n counting from 1.
type fakeMailer struct {
	calls  atomic.Int32
	result func(ctx context.Context, n int32) error
}

func (f *fakeMailer) Send(ctx context.Context, _ Message) error {
	return f.result(ctx, f.calls.Add(1))
}

var testMsg = Message{To: "ada@example.com", Subject: "Reset", Text: "t=s3cr3t-t0ken", HTML: "<p>t=s3cr3t-t0ken</p>"}

func fastOptions() (OutboxOptions, *logBuffer) {
	l, logs := newTestLogger()
	return OutboxOptions{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: l}, logs
}

func closeOutbox(t *testing.T, o *Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
}

// The acceptance test: a real SMTP server refuses the first try with 451; the outbox's Send has
// already returned, the worker retries, and Close waits for the delivery.
func TestOutboxRetriesAgainstRealSMTP(t *testing.T) {
	ca := newTestCA(t)
	srv := &smtpServer{tls: &tls.Config{Certificates: []tls.Certificate{ca.cert}}, startTLS: true, user: "mailer", pass: "secret"}
	srv.failMail.Store(1)
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPStartTLS, &config.TLS{CAFile: ca.pemFile}))
	opts, logs := fastOptions()
	o := NewOutbox(m, opts)

	if err := o.Send(t.Context(), resetMessage(t)); err != nil {
		t.Fatalf("Send = %v", err)
	}
	closeOutbox(t, o)

	if n := srv.mailAttempts.Load(); n != 2 {
		t.Errorf("%d MAIL attempts, want 2 (one 451, one success)", n)
	}
	checkResetDelivered(t, srv, true)
	out := logs.String()
	if !strings.Contains(out, "will retry") || !strings.Contains(out, "451") || !strings.Contains(out, "delivered after retry") {
		t.Errorf("logs do not tell the retry story:\n%s", out)
	}
	if strings.Contains(out, testToken) || strings.Contains(out, srv.pass) {
		t.Errorf("logs hold a secret:\n%s", out)
	}
}

func TestOutboxSendDoesNotWaitForDelivery(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	f := &fakeMailer{result: func(context.Context, int32) error {
		entered <- struct{}{}
		<-release
		return nil
	}}
	opts, _ := fastOptions()
	opts.Workers, opts.Queue = 1, 1
	o := NewOutbox(f, opts)

	// The mailer is blocked on the first message: Send still returns for the second, and the
	// third finds the queue full instead of waiting.
	if err := o.Send(t.Context(), testMsg); err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := o.Send(t.Context(), testMsg); err != nil {
		t.Fatalf("Send while the mailer is busy = %v, want queued", err)
	}
	if err := o.Send(t.Context(), testMsg); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send on a full queue = %v, want ErrQueueFull", err)
	}
	close(release)
	closeOutbox(t, o)
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d deliveries, want the 2 queued messages", n)
	}
}

func TestOutboxGivesUpAfterMaxAttempts(t *testing.T) {
	f := &fakeMailer{result: func(context.Context, int32) error {
		return &textproto.Error{Code: 421, Msg: "4.3.2 service not available"}
	}}
	opts, logs := fastOptions()
	opts.MaxAttempts = 3
	o := NewOutbox(f, opts)
	if err := o.Send(t.Context(), testMsg); err != nil {
		t.Fatal(err)
	}
	closeOutbox(t, o)
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	out := logs.String()
	if !strings.Contains(out, "giving up") || !strings.Contains(out, "to=ada@example.com") {
		t.Errorf("the final failure is not logged with its recipient:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t-t0ken") {
		t.Errorf("logs hold the body's token:\n%s", out)
	}
}

func TestOutboxDoesNotRetryPermanentFailures(t *testing.T) {
	f := &fakeMailer{result: func(context.Context, int32) error {
		return &textproto.Error{Code: 550, Msg: "5.1.1 no such user"}
	}}
	opts, logs := fastOptions()
	o := NewOutbox(f, opts)
	if err := o.Send(t.Context(), testMsg); err != nil {
		t.Fatal(err)
	}
	closeOutbox(t, o)
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d attempts for a 550, want 1", n)
	}
	if !strings.Contains(logs.String(), "failed permanently") {
		t.Errorf("the permanent failure is not logged:\n%s", logs)
	}
}

func TestOutboxBackoffGrowsAndIsCapped(t *testing.T) {
	o := &Outbox{opts: OutboxOptions{Backoff: time.Second, MaxBackoff: 10 * time.Second}}
	for attempt, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		for range 20 {
			if d := o.backoff(attempt); d < base/2 || d >= base*3/2 {
				t.Errorf("backoff(%d) = %s, want within [%s, %s)", attempt, d, base/2, base*3/2)
			}
		}
	}
}

func TestOutboxCloseGivesUpAtDeadline(t *testing.T) {
	sawCancel := make(chan struct{})
	f := &fakeMailer{result: func(ctx context.Context, n int32) error {
		<-ctx.Done() // a mail server that never answers
		if n == 1 {
			close(sawCancel)
		}
		return ctx.Err()
	}}
	opts, logs := fastOptions()
	opts.Workers = 1
	o := NewOutbox(f, opts)
	for range 3 {
		if err := o.Send(t.Context(), testMsg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := o.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 messages dropped") {
		t.Fatalf("Close = %v, want DeadlineExceeded with 3 messages dropped", err)
	}
	select {
	case <-sawCancel:
	default:
		t.Error("the in-flight delivery was not cancelled")
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d deliveries started, want only the in-flight one", n)
	}
	if !strings.Contains(logs.String(), "dropped=3") {
		t.Errorf("the drop is not logged:\n%s", logs)
	}
	if err := o.Send(t.Context(), testMsg); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

func TestOutboxRefusesInvalidMessagesAtOnce(t *testing.T) {
	f := &fakeMailer{result: func(context.Context, int32) error { return nil }}
	opts, _ := fastOptions()
	o := NewOutbox(f, opts)
	bad := testMsg
	bad.To = "ada@example.com\r\nBcc: eve@example.com"
	if err := o.Send(t.Context(), bad); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send(invalid) = %v, want ErrInvalidMessage", err)
	}
	closeOutbox(t, o)
	if n := f.calls.Load(); n != 0 {
		t.Errorf("an invalid message reached the mailer")
	}
}

// Sends racing Close must each get nil or ErrClosed (or ErrQueueFull), never a panic from a
// send on a closed channel; every accepted message is delivered.
func TestOutboxSendRacingClose(t *testing.T) {
	f := &fakeMailer{result: func(context.Context, int32) error { return nil }}
	opts, _ := fastOptions()
	o := NewOutbox(f, opts)
	var accepted atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				switch err := o.Send(context.Background(), testMsg); {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrClosed), errors.Is(err, ErrQueueFull):
				default:
					t.Errorf("Send = %v", err)
				}
			}
		})
	}
	for accepted.Load() == 0 {
		runtime.Gosched() // close while the senders are running
	}
	closeOutbox(t, o)
	wg.Wait()
	if accepted.Load() == 400 {
		t.Log("every Send won the race with Close this time")
	}
	if f.calls.Load() != accepted.Load() {
		t.Errorf("%d accepted, %d delivered", accepted.Load(), f.calls.Load())
	}
}
