package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// SignatureHeader carries the HMAC of a delivery's body when the webhook has a secret.
const SignatureHeader = "X-Berth-Signature"

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// hook delivers to one webhook, in order, one event at a time: each until the receiver
// answers 2xx (at least once: a receiver that took an event but failed to answer gets it
// again), or refuses it for good with a 4xx other than 408 and 429.
type hook struct {
	Webhook
	queue               chan []byte
	client              *http.Client
	backoff, maxBackoff time.Duration
	log                 *slog.Logger

	delivered, retried, failed, dropped, lost atomic.Int64
	lastDropLog                               atomic.Int64 // unix nanoseconds
	pending                                   atomic.Int64 // queued or being delivered
}

// offer queues body, or drops it when the queue is full.
func (h *hook) offer(body []byte) {
	h.pending.Add(1)
	select {
	case h.queue <- body:
	default:
		h.pending.Add(-1)
		n := h.dropped.Add(1)
		// A receiver that is down drops every event: one line every 10 s says so.
		now := time.Now().UnixNano()
		if last := h.lastDropLog.Load(); now-last > int64(10*time.Second) && h.lastDropLog.CompareAndSwap(last, now) {
			h.log.Warn("audit webhook queue full; events dropped", "dropped_total", n, "queue", cap(h.queue))
		}
	}
}

func (h *hook) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-h.queue:
			h.deliver(ctx, body)
			h.pending.Add(-1)
		}
	}
}

// drain waits until every event queued is delivered (or given up), or ctx ends.
func (h *hook) drain(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for h.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *hook) deliver(ctx context.Context, body []byte) {
	wait := h.backoff
	for attempt := 1; ; attempt++ {
		status, err := h.post(ctx, body)
		switch {
		case err == nil && status/100 == 2:
			h.delivered.Add(1)
			return
		case err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			h.failed.Add(1)
			h.log.Error("audit webhook refused an event; not retried", "status", status)
			return
		}
		if ctx.Err() != nil {
			h.lost.Add(1)
			return
		}
		h.retried.Add(1)
		h.log.Warn("audit webhook delivery failed; retrying", "attempt", attempt, "status", status, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			h.lost.Add(1)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, h.maxBackoff)
	}
}

func (h *hook) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	req.Header.Set("User-Agent", "berth-audit")
	if h.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(h.Secret, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// redact is a webhook's URL for logs and metrics: no credentials, no query (where
// receivers often put tokens).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return fmt.Sprintf("%s://%s%s", u.Scheme, u.Host, u.Path)
}
