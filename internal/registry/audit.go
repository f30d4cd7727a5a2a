package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/metadata"
)

// emit records an audit event of the request's actor.
func (s *Service) emit(ctx context.Context, typ, subject string, d audit.Data) {
	if s.opts.Audit == nil {
		return
	}
	a := metadata.ActorOf(ctx)
	s.opts.Audit.Emit(ctx, audit.Event{Type: typ, Actor: a.Name, Replica: a.Replica, Subject: subject, Data: d})
}

// emitMoves records the tag changes a store call made: moves, and removals.
func (s *Service) emitMoves(ctx context.Context, moves []metadata.TagChange) {
	for _, m := range moves {
		d := audit.Data{Repository: m.Repository, Tag: m.Tag, Digest: m.New.String(), Old: m.Old.String()}
		if m.New == "" {
			s.emit(ctx, audit.TagDeleted, m.Repository+":"+m.Tag, d)
		} else {
			s.emit(ctx, audit.TagMoved, m.Repository+":"+m.Tag, d)
		}
	}
}

// denied turns a quota's refusal into ErrDenied, keeping its message (usage and limit);
// it returns nil for any other error.
func denied(err error) error {
	var qe *metadata.QuotaError
	if errors.As(err, &qe) {
		return fmt.Errorf("%w: %w", ErrDenied, qe)
	}
	return nil
}
