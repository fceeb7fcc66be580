package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Outbox errors.
var (
	// ErrQueueFull is returned by Outbox.Send when the queue is full: the mail server is down
	// or slow, and queueing more would only grow memory.
	ErrQueueFull = errors.New("mail outbox is full")
	// ErrClosed is returned by Outbox.Send after Close.
	ErrClosed = errors.New("mail outbox is closed")
)

// OutboxOptions tune an Outbox; zero fields take the defaults.
type OutboxOptions struct {
	// Queue bounds the messages waiting for delivery (default 256).
	Queue int
	// Workers is the number of concurrent deliveries (default 2).
	Workers int
	// MaxAttempts bounds the tries of one message, the first included (default 5).
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled for each retry after it, with
	// ±50% jitter (default 2s).
	Backoff time.Duration
	// MaxBackoff caps the wait between tries (default 1m).
	MaxBackoff time.Duration
	// AttemptTimeout bounds one try (default 1m); the mailer may bound it more tightly.
	AttemptTimeout time.Duration
	// Logger receives delivery failures (default slog.Default()).
	Logger *slog.Logger
}

func (o *OutboxOptions) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Queue, 256)
	def(&o.Workers, 2)
	def(&o.MaxAttempts, 5)
	defDur(&o.Backoff, 2*time.Second)
	defDur(&o.MaxBackoff, time.Minute)
	defDur(&o.AttemptTimeout, time.Minute)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Outbox is a Mailer that queues messages and delivers them in the background, retrying
// temporary failures with exponential backoff. Send returns as soon as the message is queued,
// so a response never waits on the mail server, and never takes longer because an account
// exists and an email was due. Messages live in memory only: a crash loses the queue, which
// for reset and confirmation mail the user recovers from by asking again.
type Outbox struct {
	mailer Mailer
	opts   OutboxOptions

	// mu guards closed against a Send racing Close's close(queue).
	mu     sync.RWMutex
	closed bool
	queue  chan Message

	// ctx ends in-flight deliveries and backoff waits when Close gives up draining.
	ctx     context.Context
	abandon context.CancelFunc
	done    sync.WaitGroup
	dropped atomic.Int64
}

// NewOutbox starts the workers delivering through m.
func NewOutbox(m Mailer, opts OutboxOptions) *Outbox {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{mailer: m, opts: opts, queue: make(chan Message, opts.Queue), ctx: ctx, abandon: cancel}
	for range opts.Workers {
		o.done.Go(o.work)
	}
	return o
}

// Send queues msg and returns at once: nil when queued, or ErrInvalidMessage (checked now, as
// no retry can fix it), ErrQueueFull, or ErrClosed. Delivery errors are only logged. ctx is not
// used for delivery: the request that asked for the email usually ends before it is sent.
// Callers answering a client must answer alike whatever Send returns, or the answer would
// reveal whether an email was due.
func (o *Outbox) Send(_ context.Context, msg Message) error {
	if _, err := msg.validate(); err != nil {
		return err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return ErrClosed
	}
	select {
	case o.queue <- msg:
		return nil
	default:
		return ErrQueueFull
	}
}

// Close stops accepting messages and waits until the queued ones are delivered or have failed
// for good. If ctx ends first, it abandons the rest (cancelling in-flight tries), logs how many
// were dropped, and returns ctx's error.
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()

	drained := make(chan struct{})
	go func() { o.done.Wait(); close(drained) }()
	select {
	case <-drained:
		o.abandon()
		return nil
	case <-ctx.Done():
		o.abandon()
		<-drained
		n := o.dropped.Load()
		o.opts.Logger.Error("mail outbox closed before draining", "dropped", n)
		return fmt.Errorf("mail outbox: %d messages dropped: %w", n, ctx.Err())
	}
}

func (o *Outbox) work() {
	for msg := range o.queue {
		if o.ctx.Err() != nil {
			o.dropped.Add(1)
			continue
		}
		o.deliver(msg)
	}
}

// deliver tries msg until it is sent, fails permanently, runs out of attempts, or the outbox
// is abandoned. Logs name the recipient and subject, never the body, which holds tokens.
func (o *Outbox) deliver(msg Message) {
	log := o.opts.Logger.With("to", msg.To, "subject", msg.Subject)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(o.ctx, o.opts.AttemptTimeout)
		err := o.mailer.Send(ctx, msg)
		cancel()
		switch {
		case err == nil:
			if attempt > 1 {
				log.Info("email delivered after retry", "attempts", attempt)
			}
			return
		case o.ctx.Err() != nil:
			o.dropped.Add(1)
			log.Error("email abandoned at shutdown", "attempts", attempt, "error", err)
			return
		case IsPermanent(err):
			log.Error("email delivery failed permanently", "attempts", attempt, "error", err)
			return
		case attempt >= o.opts.MaxAttempts:
			log.Error("email delivery failed, giving up", "attempts", attempt, "error", err)
			return
		}
		wait := o.backoff(attempt)
		log.Warn("email delivery failed, will retry", "attempt", attempt, "retryIn", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-o.ctx.Done():
			t.Stop()
			o.dropped.Add(1)
			log.Error("email abandoned at shutdown", "attempts", attempt, "error", err)
			return
		}
	}
}

// backoff is Backoff × 2^(attempt-1), capped at MaxBackoff, times a random factor in
// [0.5, 1.5) so that many messages failing together do not retry together.
func (o *Outbox) backoff(attempt int) time.Duration {
	d := o.opts.Backoff
	for i := 1; i < attempt && d < o.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.opts.MaxBackoff)
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}
