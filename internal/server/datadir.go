package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/internal/config"
)

// prepareData creates the data directory if needed and checks that this process may
// write it, naming the directory, the user and the remedy; SQLite would otherwise say
// "unable to open database file (14)" and nothing more.
func prepareData(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create data directory %s as %s: %w", dir, whoami(), unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		if errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("data directory %s is on a read-only file system; choose another with --data (or data: in the configuration)", dir)
		}
		return fmt.Errorf("data directory %s is not writable by %s (%w): change its owner or mode, or choose another with --data", dir, whoami(), unwrapPath(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// unwrapPath drops the *fs.PathError around an errno, whose path the caller names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func whoami() string {
	uid := os.Geteuid()
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("user %s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// sqlitePath returns the path of the SQLite database a configuration uses, or "" when
// its metadata is elsewhere (PostgreSQL).
func sqlitePath(cfg config.Config) string {
	if cfg.Metadata == "" {
		return filepath.Join(cfg.Data, "metadata.db")
	}
	if u, err := url.Parse(cfg.Metadata); err == nil && u.Scheme == "sqlite" {
		return u.Path
	}
	return ""
}

// errLocked is what a second registry on the same SQLite database gets.
type errLocked struct {
	what string // "data directory DIR" or "SQLite database PATH"
	pid  string
}

func (e *errLocked) Error() string {
	holder := "another process"
	if e.pid != "" {
		holder = "another berth serve (PID " + e.pid + ")"
	}
	return fmt.Sprintf("%s is in use by %s: one SQLite database serves one registry process "+
		"(replicas share PostgreSQL and S3 instead, see docs/deploy.md); stop that one, or give this one its own --data",
		e.what, holder)
}

// readPID reads the PID a lock holder wrote, if any.
func readPID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	pid := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(pid); err != nil {
		return ""
	}
	return pid
}
