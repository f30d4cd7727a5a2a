package auth

import (
	"sync"
	"time"
)

// Defaults of the failed-login limiter: ten wrong passwords a minute is plenty for a
// person and far too few for guessing.
const (
	DefaultMaxFailures   = 10
	DefaultFailureWindow = time.Minute
	// maxTrackedClients bounds the limiter's memory under a flood from many addresses.
	maxTrackedClients = 10000
)

// limiter counts failed logins per client in fixed windows. A client that reached max
// failures is refused until its window ends, without a password check, so guessing
// costs the attacker time and costs Berth no bcrypt work.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	count int
	start time.Time // of the window
}

func newLimiter(max int, window time.Duration) *limiter {
	if max <= 0 {
		max = DefaultMaxFailures
	}
	if window <= 0 {
		window = DefaultFailureWindow
	}
	return &limiter{max: max, window: window, now: time.Now, clients: map[string]*failures{}}
}

// blocked reports whether client must wait, and for how long.
func (l *limiter) blocked(client string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[client]
	if f == nil {
		return 0, false
	}
	left := f.start.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.clients, client)
		return 0, false
	}
	return left, f.count >= l.max
}

// fail records a failed login of client.
func (l *limiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.clients[client]
	if f == nil || now.Sub(f.start) >= l.window {
		if f == nil && len(l.clients) >= maxTrackedClients {
			l.prune(now)
		}
		f = &failures{start: now}
		l.clients[client] = f
	}
	f.count++
}

// prune forgets clients whose window ended; if all are still current it forgets some
// anyway, since memory is the scarcer resource in a flood.
func (l *limiter) prune(now time.Time) {
	for c, f := range l.clients {
		if now.Sub(f.start) >= l.window {
			delete(l.clients, c)
		}
	}
	for c := range l.clients {
		if len(l.clients) < maxTrackedClients {
			break
		}
		delete(l.clients, c)
	}
}
