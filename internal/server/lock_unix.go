//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// lockDatabase takes an exclusive lock on db+".lock" (what names it in errors) and writes this process's PID
// into it, so that a second `berth serve` on the same SQLite database refuses to start
// and says who holds it. The lock is flock(2): the kernel drops it when the process
// ends however it ends, so a crash leaves no stale lock behind (the file stays, with
// the dead PID, and is simply locked anew).
func lockDatabase(db, what string) (unlock func(), err error) {
	path := db + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &errLocked{what: what, pid: readPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
