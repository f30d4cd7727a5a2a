package metadata

import (
	"context"
	"time"
)

// Leases let one replica at a time run a job that must not run twice at once (a
// retention pass): a lease is held by one holder until it expires or is released, and
// whoever asks for it meanwhile is told no. A holder renews its lease by acquiring it
// again before it expires.
type Leases interface {
	// AcquireLease takes the lease name for holder until now+ttl, or renews it when
	// holder has it; it reports false, changing nothing, while another holder's lease has
	// not expired at now.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}
