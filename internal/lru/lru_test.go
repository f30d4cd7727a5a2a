package lru

import "testing"

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := New[string, int](2)
	c.Put("a", 1)
	c.Put("b", 2)
	if v, ok := c.Get("a", nil); !ok || v != 1 {
		t.Fatalf("a = %v, %v", v, ok)
	}
	c.Put("c", 3) // b is the least recently used now
	if _, ok := c.Get("b", nil); ok {
		t.Error("b survived eviction")
	}
	for k, want := range map[string]int{"a": 1, "c": 3} {
		if v, ok := c.Get(k, nil); !ok || v != want {
			t.Errorf("%s = %v, %v", k, v, ok)
		}
	}
	c.Put("a", 10)
	if v, _ := c.Get("a", nil); v != 10 || c.Len() != 2 {
		t.Errorf("replacing a: %v, len %d", v, c.Len())
	}
}

func TestCacheDropsInvalidEntries(t *testing.T) {
	c := New[string, int](4)
	c.Put("x", 1)
	if _, ok := c.Get("x", func(v int) bool { return v == 2 }); ok {
		t.Fatal("invalid entry returned")
	}
	if c.Len() != 0 {
		t.Fatal("invalid entry kept")
	}
	if h, m := c.Stats(); h != 0 || m != 1 {
		t.Errorf("stats %d hits %d misses", h, m)
	}
}
