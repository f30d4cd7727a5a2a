package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAppearsOnlyWhenComplete(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f")
	if n, err := Write(path, strings.NewReader("hello"), func(n int64) error { return nil }); err != nil || n != 5 {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "hello" {
		t.Fatalf("read back %q, %v", b, err)
	}
	bad := filepath.Join(dir, "bad")
	if _, err := Write(bad, strings.NewReader("x"), func(int64) error { return errors.New("digest mismatch") }); err == nil {
		t.Fatal("a failed check was not reported")
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatal("a file that failed its check appeared")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}
