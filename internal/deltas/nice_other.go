//go:build !linux

package deltas

import (
	"errors"
	"time"
)

// lowerPriority is not available here: the workers run at normal priority.
func lowerPriority() error { return errors.New("thread priorities are not supported on this system") }

// threadCPU is not known here.
func threadCPU() time.Duration { return 0 }
