package mirror

import (
	"context"
	"sync"
)

// group runs one call per key at a time: callers asking for a key already running wait
// for its result instead of starting another. The call runs detached from the callers'
// contexts, so the first caller giving up does not fail the others; each caller stops
// waiting when its own context ends.
type group[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
	work  *sync.WaitGroup // counts the calls running, when set
}

type call[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func (g *group[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	g.mu.Lock()
	c, ok := g.calls[key]
	if !ok {
		if g.calls == nil {
			g.calls = map[string]*call[T]{}
		}
		c = &call[T]{done: make(chan struct{})}
		g.calls[key] = c
		if g.work != nil {
			g.work.Add(1)
		}
		go func() {
			if g.work != nil {
				defer g.work.Done()
			}
			c.val, c.err = fn()
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(c.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
