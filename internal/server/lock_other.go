//go:build !unix

package server

// lockDatabase does nothing where flock(2) does not exist.
func lockDatabase(string, string) (func(), error) { return func() {}, nil }
