package sqlite

import (
	"errors"
	"fmt"

	sqlite3 "modernc.org/sqlite"
)

// describe turns an SQLite error met while opening the database at path into a
// sentence that names the path and what to do; SQLite's own text ("unable to open
// database file (14)") names neither. The original error stays wrapped.
func describe(path string, err error) error {
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	var what string
	switch code := se.Code(); code & 0xff { // the primary result code
	case 14: // SQLITE_CANTOPEN
		what = "cannot open the SQLite database %s: its directory does not exist or is not writable, or the path is not a file"
	case 8: // SQLITE_READONLY
		what = "the SQLite database %s is read-only: the file and its directory must be writable (SQLite writes -wal and -shm files beside it)"
		if code == 1544 { // SQLITE_READONLY_DIRECTORY
			what = "the SQLite database %s cannot be written because its directory is read-only: SQLite writes -wal and -shm files beside it"
		}
	case 26: // SQLITE_NOTADB
		what = "%s is not an SQLite database"
	case 11: // SQLITE_CORRUPT
		what = "the SQLite database %s is corrupt; restore it from a backup (berth backup makes them)"
	case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
		what = "the SQLite database %s is locked by another process"
	case 13: // SQLITE_FULL
		what = "no space left on the device of the SQLite database %s"
	case 10: // SQLITE_IOERR
		what = "I/O error on the SQLite database %s"
	case 3, 23: // SQLITE_PERM, SQLITE_AUTH
		what = "permission denied on the SQLite database %s"
	default:
		return fmt.Errorf("SQLite database %s: %w", path, err)
	}
	return fmt.Errorf(what+" (%w)", path, err)
}
