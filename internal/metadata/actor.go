package metadata

import "context"

// Actor says who made a change, for the records that remember it (tag history, audit).
// It travels in the context because it is a fact about the request, set once where the
// request is authenticated and read wherever a change is recorded.
type Actor struct {
	// Name is the authenticated user, "" for an anonymous client, or the name of the
	// background job that made the change (such as "gc" or "retention").
	Name string
	// Replica names the Berth process that made the change.
	Replica string
}

type actorKey struct{}

// WithActor returns ctx carrying name as the actor, keeping the replica it carries.
func WithActor(ctx context.Context, name string) context.Context {
	a := ActorOf(ctx)
	a.Name = name
	return context.WithValue(ctx, actorKey{}, a)
}

// WithReplica returns ctx carrying replica as the process that makes changes, keeping
// the actor's name it carries.
func WithReplica(ctx context.Context, replica string) context.Context {
	a := ActorOf(ctx)
	a.Replica = replica
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorOf returns the actor ctx carries (the zero Actor when none).
func ActorOf(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}
