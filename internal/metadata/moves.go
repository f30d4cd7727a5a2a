package metadata

import (
	"context"
	"sync"
)

// TagMoves collects the tag changes a store call makes, so that its caller can report
// them (audit events) once the call has succeeded. A store notes each change when it
// records it in the tag history, and starts the collection over when it runs a
// transaction again, so what the caller reads after a successful call is what was
// committed.
type TagMoves struct {
	mu    sync.Mutex
	order []string
	moves map[string]TagChange
}

type tagMovesKey struct{}

// WithTagMoves returns ctx carrying a new, empty collection, and the collection.
func WithTagMoves(ctx context.Context) (context.Context, *TagMoves) {
	m := &TagMoves{moves: map[string]TagChange{}}
	return context.WithValue(ctx, tagMovesKey{}, m), m
}

// NoteTagMove adds c to the collection ctx carries, if any; stores call it for every
// change they record.
func NoteTagMove(ctx context.Context, c TagChange) {
	m, _ := ctx.Value(tagMovesKey{}).(*TagMoves)
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := c.Repository + ":" + c.Tag
	if _, ok := m.moves[key]; !ok {
		m.order = append(m.order, key)
	}
	m.moves[key] = c
}

// ResetTagMoves empties the collection ctx carries, if any: a store calls it before it
// runs a transaction again.
func ResetTagMoves(ctx context.Context) {
	if m, _ := ctx.Value(tagMovesKey{}).(*TagMoves); m != nil {
		m.mu.Lock()
		m.order, m.moves = nil, map[string]TagChange{}
		m.mu.Unlock()
	}
}

// List returns the changes noted, in the order their tags were first noted.
func (m *TagMoves) List() []TagChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TagChange, 0, len(m.order))
	for _, k := range m.order {
		out = append(out, m.moves[k])
	}
	return out
}
