package s3

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestInPartsSplitsExactlyAndBoundsTheBuffer(t *testing.T) {
	const size = 1 << 20
	data := make([]byte, 3*size+5)
	for i := range data {
		data[i] = byte(i % 251)
	}
	tests := []struct {
		name string
		n    int
		want []int // part lengths
		slow bool  // the reader yields one byte per Read
	}{
		{"empty", 0, nil, false},
		{"one byte", 1, []int{1}, false},
		{"just under a part", size - 1, []int{size - 1}, false},
		{"one whole part", size, []int{size}, false},
		{"one more byte", size + 1, []int{size, 1}, false},
		{"several parts", 3*size + 5, []int{size, size, size, 5}, false},
		{"byte by byte", size + 3, []int{size, 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(data[:tt.n])
			if tt.slow {
				r = iotest.OneByteReader(r)
			}
			var got []int
			var joined []byte
			sent, err := inParts(r, size, func(at int64, part []byte) error {
				if at != int64(len(joined)) {
					t.Errorf("part at %d, want %d", at, len(joined))
				}
				got = append(got, len(part))
				joined = append(joined, part...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if sent != int64(tt.n) || !bytes.Equal(joined, data[:tt.n]) {
				t.Fatalf("sent %d bytes (equal: %v), want %d", sent, bytes.Equal(joined, data[:tt.n]), tt.n)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parts %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("parts %v, want %v", got, tt.want)
				}
			}
		})
	}

	// A part buffer never grows past the part size, and a small blob takes a small one.
	var bp []byte
	if _, err := fill(bytes.NewReader(data), &bp, size); err != nil {
		t.Fatal(err)
	}
	if cap(bp) > size {
		t.Errorf("a full part left a buffer of %d bytes, want at most %d", cap(bp), size)
	}
	var small []byte
	if _, err := fill(bytes.NewReader(data[:100]), &small, size); err != nil {
		t.Fatal(err)
	}
	if cap(small) > 128<<10 {
		t.Errorf("a 100-byte part took a buffer of %d bytes", cap(small))
	}
}

func TestInPartsStopsAtAnError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(make([]byte, 1500)), iotest.ErrReader(boom))
	var parts int
	sent, err := inParts(r, 1000, func(int64, []byte) error { parts++; return nil })
	if !errors.Is(err, boom) || sent != 1000 || parts != 1 {
		t.Fatalf("sent %d in %d parts, err %v; want the first whole part sent, then boom", sent, parts, err)
	}
	sent, err = inParts(bytes.NewReader(make([]byte, 1500)), 1000, func(int64, []byte) error { return boom })
	if !errors.Is(err, boom) || sent != 0 {
		t.Fatalf("send failing: sent %d, err %v", sent, err)
	}
}
