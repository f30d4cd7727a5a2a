package oci

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrRangeInvalid reports a range header that cannot be parsed.
var ErrRangeInvalid = errors.New("invalid range")

// ErrRangeUnsatisfiable reports a well-formed range that selects no byte of the blob.
var ErrRangeUnsatisfiable = errors.New("range not satisfiable")

// ParseUploadRange parses the Content-Range of a chunked upload: "<start>-<end>",
// inclusive. A "bytes " prefix and a "/<total>" or "/*" suffix, which some clients send,
// are tolerated.
func ParseUploadRange(h string) (start, end int64, err error) {
	s := strings.TrimPrefix(strings.TrimSpace(h), "bytes ")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if total := s[i+1:]; total != "*" && !isDecimal(total) {
			return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
		}
		s = s[:i]
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
	}
	start, err1 := parseOffset(a)
	end, err2 := parseOffset(b)
	if err1 != nil || err2 != nil || start > end {
		return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
	}
	return start, end, nil
}

// ParseRange parses the Range header of a blob GET against a blob of size bytes and
// returns the offset and length to serve. Only one range of unit bytes is supported;
// anything else is ErrRangeInvalid, and callers then serve the whole blob as RFC 9110
// allows. A range selecting nothing, or ending before it starts, is
// ErrRangeUnsatisfiable (416).
func ParseRange(h string, size int64) (offset, length int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
	}
	if a == "" { // suffix: the last b bytes
		n, err := parseOffset(b)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
		}
		if n == 0 || size == 0 {
			return 0, 0, fmt.Errorf("%w: %q of %d bytes", ErrRangeUnsatisfiable, h, size)
		}
		n = min(n, size)
		return size - n, n, nil
	}
	first, err := parseOffset(a)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
	}
	last := int64(-1)
	if b != "" {
		if last, err = parseOffset(b); err != nil {
			return 0, 0, fmt.Errorf("%w: %q", ErrRangeInvalid, h)
		}
		if last < first {
			// RFC 9110 §14.1.1: such a range-spec is invalid, and a set of only invalid
			// ranges is answered 416.
			return 0, 0, fmt.Errorf("%w: %q ends before it starts", ErrRangeUnsatisfiable, h)
		}
	}
	if first >= size {
		return 0, 0, fmt.Errorf("%w: %q of %d bytes", ErrRangeUnsatisfiable, h, size)
	}
	if last < 0 || last >= size {
		last = size - 1
	}
	return first, last - first + 1, nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseOffset reads a non-negative decimal that fits in int64, with no sign or spaces.
func parseOffset(s string) (int64, error) {
	if !isDecimal(s) {
		return 0, ErrRangeInvalid
	}
	return strconv.ParseInt(s, 10, 64)
}
