// Package lru is a small least-recently-used cache, safe for concurrent use, for values
// that are cheap to keep and costly to make again: rendered index answers, parsed image
// configurations.
package lru

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// Cache holds at most max entries (and, when weighed, at most budget in weight); adding
// one more drops the least recently used.
type Cache[K comparable, V any] struct {
	mu     sync.Mutex
	max    int
	budget int64
	weigh  func(V) int64 // nil: unweighed
	weight int64         // of the entries held
	order  *list.List    // of *entry[K, V], most recent first
	items  map[K]*list.Element

	hits, misses atomic.Uint64
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns a cache of max entries.
func New[K comparable, V any](max int) *Cache[K, V] {
	return &Cache[K, V]{max: max, order: list.New(), items: map[K]*list.Element{}}
}

// NewWeighted returns a cache of max entries whose weights (weigh of each value) add up
// to at most budget; the most recent entry is kept even when it alone weighs more.
func NewWeighted[K comparable, V any](max int, budget int64, weigh func(V) int64) *Cache[K, V] {
	c := New[K, V](max)
	c.budget, c.weigh = budget, weigh
	return c
}

// Get returns the value for key, if cached and valid says it still is (nil: always);
// an entry that is no longer valid is dropped.
func (c *Cache[K, V]) Get(key K, valid func(V) bool) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	e, ok := c.items[key]
	if !ok {
		c.misses.Add(1)
		return zero, false
	}
	v := e.Value.(*entry[K, V]).val
	if valid != nil && !valid(v) {
		c.remove(e)
		c.misses.Add(1)
		return zero, false
	}
	c.order.MoveToFront(e)
	c.hits.Add(1)
	return v, true
}

// Put stores the value for key.
func (c *Cache[K, V]) Put(key K, val V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.remove(e)
	}
	c.items[key] = c.order.PushFront(&entry[K, V]{key, val})
	c.weight += c.weightOf(val)
	for c.order.Len() > c.max || (c.weigh != nil && c.weight > c.budget && c.order.Len() > 1) {
		c.remove(c.order.Back())
	}
}

func (c *Cache[K, V]) weightOf(v V) int64 {
	if c.weigh == nil {
		return 0
	}
	return c.weigh(v)
}

func (c *Cache[K, V]) remove(e *list.Element) {
	en := e.Value.(*entry[K, V])
	c.order.Remove(e)
	delete(c.items, en.key)
	c.weight -= c.weightOf(en.val)
}

// Stats reports hits and misses since the cache was made.
func (c *Cache[K, V]) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Len reports the number of entries.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
