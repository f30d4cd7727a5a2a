package blobstore

import (
	"strings"
	"testing"
)

func TestValidUploadID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"a", true}, {"0f-_Z", true}, {strings.Repeat("x", 128), true},
		{"", false}, {strings.Repeat("x", 129), false}, {"..", false}, {"a/b", false},
		{"a.b", false}, {"a\x00", false}, {"é", false},
	}
	for _, tt := range tests {
		if got := ValidUploadID(tt.id); got != tt.ok {
			t.Errorf("ValidUploadID(%q) = %v, want %v", tt.id, got, tt.ok)
		}
	}
}
