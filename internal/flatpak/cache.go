package flatpak

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// cache holds rendered static answers by normalised query, each valid for the store
// generation it was rendered at; a bounded LRU so that arbitrary queries cannot grow it.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheItem, most recent first
	items map[string]*list.Element

	hits, misses atomic.Uint64
}

type cacheItem struct {
	key string
	a   *answer
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (c *cache) get(key string, gen int64) (*answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	it := e.Value.(*cacheItem)
	if it.a.gen != gen {
		c.order.Remove(e)
		delete(c.items, key)
		c.misses.Add(1)
		return nil, false
	}
	c.order.MoveToFront(e)
	c.hits.Add(1)
	return it.a, true
}

func (c *cache) put(key string, a *answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*cacheItem).a = a
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&cacheItem{key: key, a: a})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheItem).key)
	}
}
