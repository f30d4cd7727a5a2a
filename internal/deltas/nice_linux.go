package deltas

import "syscall"

// niceness is the priority the workers' threads run at: below every request.
const niceness = 10

// lowerPriority lowers the calling thread's scheduling priority (Linux schedules threads,
// and setpriority on a thread id affects that thread alone). The caller has locked its
// goroutine to the thread.
func lowerPriority() error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), niceness)
}
