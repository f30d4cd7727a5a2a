package oci

import (
	"errors"
	"testing"
)

func TestParseUploadRange(t *testing.T) {
	tests := []struct {
		in         string
		start, end int64
		ok         bool
	}{
		{"0-0", 0, 0, true}, {"0-1023", 0, 1023, true}, {"1024-2047", 1024, 2047, true},
		{"bytes 0-9/10", 0, 9, true}, {"bytes 5-9/*", 5, 9, true},
		{"5-3", 0, 0, false}, {"-5", 0, 0, false}, {"5-", 0, 0, false}, {"a-b", 0, 0, false},
		{"+1-2", 0, 0, false}, {"1 - 2", 0, 0, false}, {"", 0, 0, false},
		{"0-99999999999999999999", 0, 0, false}, {"0-9/x", 0, 0, false},
	}
	for _, tt := range tests {
		s, e, err := ParseUploadRange(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (s != tt.start || e != tt.end)) {
			t.Errorf("ParseUploadRange(%q) = %d, %d, %v; want %d, %d ok=%v", tt.in, s, e, err, tt.start, tt.end, tt.ok)
		}
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in             string
		size           int64
		offset, length int64
		err            error
	}{
		{"bytes=0-9", 100, 0, 10, nil},
		{"bytes=10-", 100, 10, 90, nil},
		{"bytes=-10", 100, 90, 10, nil},
		{"bytes=-1000", 100, 0, 100, nil},
		{"bytes=90-1000", 100, 90, 10, nil},
		{"bytes=99-99", 100, 99, 1, nil},
		{"bytes=100-", 100, 0, 0, ErrRangeUnsatisfiable},
		{"bytes=200-300", 100, 0, 0, ErrRangeUnsatisfiable},
		{"bytes=-0", 100, 0, 0, ErrRangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, ErrRangeUnsatisfiable},
		{"bytes=5-3", 100, 0, 0, ErrRangeUnsatisfiable},
		{"bytes=500-0", 1000, 0, 0, ErrRangeUnsatisfiable},
		{"bytes=0-1,5-6", 100, 0, 0, ErrRangeInvalid},
		{"items=0-1", 100, 0, 0, ErrRangeInvalid},
		{"bytes=99999999999999999999-", 100, 0, 0, ErrRangeInvalid},
		{"bytes=x-1", 100, 0, 0, ErrRangeInvalid},
	}
	for _, tt := range tests {
		o, l, err := ParseRange(tt.in, tt.size)
		if !errors.Is(err, tt.err) || (tt.err == nil && (o != tt.offset || l != tt.length)) {
			t.Errorf("ParseRange(%q, %d) = %d, %d, %v; want %d, %d, %v", tt.in, tt.size, o, l, err, tt.offset, tt.length, tt.err)
		}
	}
}

func FuzzParseUploadRange(f *testing.F) {
	f.Add("0-1023")
	f.Add("bytes 5-9/*")
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := ParseUploadRange(s)
		if err == nil && (start < 0 || end < start) {
			t.Fatalf("ParseUploadRange(%q) = %d, %d", s, start, end)
		}
	})
}

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-9", int64(100))
	f.Add("bytes=-5", int64(3))
	f.Add("bytes=7-", int64(0))
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size < 0 {
			return
		}
		o, l, err := ParseRange(s, size)
		if err == nil && (o < 0 || l <= 0 || o+l > size) {
			t.Fatalf("ParseRange(%q, %d) = %d, %d", s, size, o, l)
		}
	})
}
