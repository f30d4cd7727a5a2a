package flatpak

import "github.com/berth-registry/berth/internal/lru"

// cache holds rendered answers by normalised query, each valid for the store generation
// it was rendered at; bounded in entries and in compressed bytes, so that arbitrary
// queries cannot grow it.
type cache struct{ c *lru.Cache[string, *answer] }

func newCache(max int, bytes int64) *cache {
	return &cache{c: lru.NewWeighted[string](max, bytes, func(a *answer) int64 { return a.gz.Len() })}
}

func (c *cache) get(key string, gen int64) (*answer, bool) {
	return c.c.Get(key, func(a *answer) bool { return a.gen == gen })
}

func (c *cache) put(key string, a *answer) { c.c.Put(key, a) }
