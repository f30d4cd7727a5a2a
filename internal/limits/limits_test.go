package limits

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRateLimiterBurstThenRate(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := NewRateLimiter(2, 3, c.now)
	steps := []struct {
		advance time.Duration
		key     string
		ok      bool
		retry   time.Duration
	}{
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", true, 0},            // burst of 3 used
		{0, "a", false, time.Second}, // empty: one token in 0.5s, rounded up
		{0, "b", true, 0},            // other clients are not affected
		{500 * time.Millisecond, "a", true, 0},
		{0, "a", false, time.Second},
		{10 * time.Second, "a", true, 0}, // refilled, but only to the burst
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, time.Second},
	}
	for i, s := range steps {
		c.advance(s.advance)
		ok, retry := l.Allow(s.key)
		if ok != s.ok || retry != s.retry {
			t.Fatalf("step %d (%s): Allow = %v, %v; want %v, %v", i, s.key, ok, retry, s.ok, s.retry)
		}
	}
}

func TestRateLimiterRetryAfterCoversSlowRates(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	l := NewRateLimiter(0.1, 1, c.now) // one request every 10s
	l.Allow("a")
	if ok, retry := l.Allow("a"); ok || retry != 10*time.Second {
		t.Fatalf("Allow = %v, %v; want false, 10s", ok, retry)
	}
}

func TestRateLimiterForgetsIdleClients(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	l := NewRateLimiter(10, 10, c.now)
	for _, k := range []string{"a", "b", "c"} {
		l.Allow(k)
	}
	c.advance(2 * time.Minute)
	l.Allow("d")
	if n := l.Len(); n != 1 {
		t.Fatalf("%d clients tracked after the others went idle, want 1", n)
	}
}

func TestSlots(t *testing.T) {
	s := NewSlots(2)
	if !s.TryAcquire() || !s.TryAcquire() {
		t.Fatal("two slots not available")
	}
	if s.TryAcquire() {
		t.Fatal("third slot granted")
	}
	s.Release()
	if s.InUse() != 1 || !s.TryAcquire() {
		t.Fatal("released slot not available again")
	}
}
