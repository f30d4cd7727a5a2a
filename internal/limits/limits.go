// Package limits holds the registry's admission controls: a per-client token bucket for
// request rates and a counting semaphore for concurrent uploads. Both answer at once
// (never queue), so an overloaded registry says 429 instead of piling up work.
package limits

import (
	"math"
	"sync"
	"time"
)

// RateLimiter allows each key (a client address) rate requests per second on average and
// burst at once. Idle keys are forgotten, so memory stays bounded by the active clients.
type RateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter; now is the clock (time.Now outside tests).
func NewRateLimiter(rate float64, burst int, now func() time.Time) *RateLimiter {
	return &RateLimiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}, swept: now()}
}

// Allow takes a token for key. When none is left it reports how long until one is,
// rounded up to whole seconds as Retry-After needs.
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := math.Ceil((1 - b.tokens) / l.rate)
	return false, time.Duration(wait) * time.Second
}

// sweep drops, at most once a minute, the buckets that have refilled completely: their
// clients are idle and a new bucket would be identical.
func (l *RateLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
}

// Len reports how many clients are tracked.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Slots bounds how many operations run at once.
type Slots struct{ ch chan struct{} }

// NewSlots returns n slots.
func NewSlots(n int) *Slots { return &Slots{ch: make(chan struct{}, n)} }

// TryAcquire takes a slot if one is free.
func (s *Slots) TryAcquire() bool {
	select {
	case s.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release returns a slot taken by TryAcquire.
func (s *Slots) Release() { <-s.ch }

// InUse reports how many slots are taken.
func (s *Slots) InUse() int { return len(s.ch) }
