package flatpak

import "github.com/berth-registry/berth/internal/lru"

// cache holds rendered static answers by normalised query, each valid for the store
// generation it was rendered at; bounded, so that arbitrary queries cannot grow it.
type cache struct{ c *lru.Cache[string, *answer] }

func newCache(max int) *cache { return &cache{c: lru.New[string, *answer](max)} }

func (c *cache) get(key string, gen int64) (*answer, bool) {
	return c.c.Get(key, func(a *answer) bool { return a.gen == gen })
}

func (c *cache) put(key string, a *answer) { c.c.Put(key, a) }
