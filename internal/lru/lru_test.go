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

func TestWeightedCacheKeepsItsBudget(t *testing.T) {
	c := NewWeighted[string, []byte](10, 100, func(v []byte) int64 { return int64(len(v)) })
	c.Put("a", make([]byte, 40))
	c.Put("b", make([]byte, 40))
	c.Put("c", make([]byte, 40)) // 120 > 100: a goes
	if _, ok := c.Get("a", nil); ok || c.Len() != 2 {
		t.Fatalf("over budget: a kept, %d entries", c.Len())
	}
	c.Put("b", make([]byte, 10)) // replacing an entry replaces its weight
	c.Put("d", make([]byte, 50))
	if c.Len() != 3 {
		t.Fatalf("b(10)+c(40)+d(50) fit in 100, have %d entries", c.Len())
	}
	c.Put("huge", make([]byte, 500)) // alone over budget: kept, everything else dropped
	if _, ok := c.Get("huge", nil); !ok || c.Len() != 1 {
		t.Fatalf("the newest entry must stay: %d entries", c.Len())
	}
	c.Get("huge", func([]byte) bool { return false }) // an invalid entry leaves with its weight
	c.Put("e", make([]byte, 100))
	if c.Len() != 1 {
		t.Fatalf("weight not released: %d entries", c.Len())
	}
}
