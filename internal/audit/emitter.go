package audit

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure an Emitter.
type Options struct {
	// Log receives one line per event (message "audit"); nil: no lines.
	Log *slog.Logger
	// Replica is the Replica of events that do not name one.
	Replica string
	// Source is the CloudEvents source attribute (default "berth").
	Source string
	// Webhooks receive every event.
	Webhooks []Webhook
	// QueueSize bounds the events waiting per webhook (default 1000).
	QueueSize int
	// Timeout bounds one delivery attempt (default 10s).
	Timeout time.Duration
	// Backoff is the wait after a first failed attempt (default 1s); it doubles with
	// every further failure up to MaxBackoff (default 1m).
	Backoff, MaxBackoff time.Duration
	// Client sends the deliveries (default: a client with Timeout).
	Client *http.Client
	// Warn receives the emitter's own trouble (failed deliveries, drops); nil: Log.
	Warn *slog.Logger
}

// Webhook is a receiver of events.
type Webhook struct {
	// URL is POSTed every event.
	URL string
	// Secret, when set, signs each body in the X-Berth-Signature header:
	// sha256=hex(HMAC-SHA256(secret, body)).
	Secret string
}

// Emitter writes events to the log and queues them for the webhooks. A nil *Emitter
// emits nothing, so the packages that emit need no check. Safe for concurrent use.
type Emitter struct {
	log     *slog.Logger
	replica string
	source  string
	hooks   []*hook
	types   sync.Map // type → *atomic.Int64, events emitted

	closed    atomic.Bool
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New returns an Emitter whose webhook deliveries run in goroutines of their own until
// Close.
func New(o Options) *Emitter {
	if o.Source == "" {
		o.Source = "berth"
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = max(time.Minute, o.Backoff)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	warn := o.Warn
	if warn == nil {
		warn = o.Log
	}
	if warn == nil {
		warn = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	e := &Emitter{log: o.Log, replica: o.Replica, source: o.Source, stop: stop}
	for _, w := range o.Webhooks {
		h := &hook{Webhook: w, queue: make(chan []byte, o.QueueSize), client: o.Client,
			backoff: o.Backoff, maxBackoff: o.MaxBackoff, log: warn.With("webhook", redact(w.URL))}
		e.hooks = append(e.hooks, h)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			h.run(ctx)
		}()
	}
	return e
}

// Emit records ev: a log line at once, and a delivery queued for each webhook (dropped,
// counted and logged when the queue is full). It never blocks on a webhook.
func (e *Emitter) Emit(ctx context.Context, ev Event) {
	if e == nil {
		return
	}
	if ev.ID == "" {
		ev.ID = rand.Text()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Replica == "" {
		ev.Replica = e.replica
	}
	n, _ := e.types.LoadOrStore(ev.Type, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if e.log != nil && e.log.Enabled(ctx, slog.LevelInfo) {
		r := slog.NewRecord(ev.Time, slog.LevelInfo, "audit", 0)
		r.AddAttrs(
			slog.String("id", ev.ID),
			slog.String("type", ev.Type),
			slog.String("actor", ev.Actor),
			slog.String("replica", ev.Replica),
			slog.String("subject", ev.Subject),
			slog.Any("data", ev.Data),
		)
		_ = e.log.Handler().Handle(ctx, r)
	}
	if len(e.hooks) == 0 || e.closed.Load() {
		return
	}
	body, err := json.Marshal(cloudEvent(ev, e.source))
	if err != nil {
		return // Data has only strings and numbers: cannot happen
	}
	for _, h := range e.hooks {
		h.offer(body)
	}
}

// Close stops accepting events and waits until every webhook's queue is delivered or
// ctx ends; then it stops the deliveries (events still queued are lost, and counted).
// Later calls return what the first returned.
func (e *Emitter) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	e.closeOnce.Do(func() { e.closeErr = e.close(ctx) })
	return e.closeErr
}

func (e *Emitter) close(ctx context.Context) error {
	e.closed.Store(true)
	drained := make(chan struct{})
	go func() {
		for _, h := range e.hooks {
			h.drain(ctx)
		}
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	e.stop()
	e.wg.Wait()
	for _, h := range e.hooks {
		if n := int64(len(h.queue)); n > 0 {
			h.lost.Add(n)
			h.log.Warn("audit events not delivered before shutdown", "events", n)
		}
	}
	return err
}

// Counts are the running counts of one webhook, for metrics.
type Counts struct {
	URL                                 string // without credentials or query
	Delivered, Retried, Failed, Dropped int64
	Lost                                int64 // queued at shutdown
	Queued                              int
}

// Webhooks returns the counts of every webhook.
func (e *Emitter) Webhooks() []Counts {
	if e == nil {
		return nil
	}
	out := make([]Counts, len(e.hooks))
	for i, h := range e.hooks {
		out[i] = Counts{URL: redact(h.URL), Delivered: h.delivered.Load(), Retried: h.retried.Load(),
			Failed: h.failed.Load(), Dropped: h.dropped.Load(), Lost: h.lost.Load(), Queued: len(h.queue)}
	}
	return out
}

// Emitted returns how many events of each type were emitted.
func (e *Emitter) Emitted() map[string]int64 {
	out := map[string]int64{}
	if e == nil {
		return out
	}
	e.types.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// cloudEvent is an event in the CloudEvents 1.0 JSON format, structured mode. The actor
// and the replica are extension attributes.
type cloudEventJSON struct {
	SpecVersion     string `json:"specversion"`
	Type            string `json:"type"`
	Source          string `json:"source"`
	ID              string `json:"id"`
	Time            string `json:"time"`
	Subject         string `json:"subject,omitempty"`
	DataContentType string `json:"datacontenttype"`
	Actor           string `json:"actor,omitempty"`
	Replica         string `json:"replica,omitempty"`
	Data            Data   `json:"data"`
}

func cloudEvent(ev Event, source string) cloudEventJSON {
	return cloudEventJSON{
		SpecVersion:     "1.0",
		Type:            ev.Type,
		Source:          source,
		ID:              ev.ID,
		Time:            ev.Time.UTC().Format(time.RFC3339Nano),
		Subject:         ev.Subject,
		DataContentType: "application/json",
		Actor:           ev.Actor,
		Replica:         ev.Replica,
		Data:            ev.Data,
	}
}
