package deltas

import (
	"syscall"
	"time"
)

// niceness is the priority the workers' threads run at: below every request.
const niceness = 10

// lowerPriority lowers the calling thread's scheduling priority (Linux schedules threads,
// and setpriority on a thread id affects that thread alone). The caller has locked its
// goroutine to the thread.
func lowerPriority() error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), niceness)
}

// rusageThread is RUSAGE_THREAD, which package syscall does not name.
const rusageThread = 1

// threadCPU is the CPU time the calling thread has used (user and system).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
