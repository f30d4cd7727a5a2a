package flatpak

import "io"

// chunkSize is the size of the pieces a compressed answer is kept in.
const chunkSize = 64 << 10

// chunks is a byte buffer in fixed pieces: growing it never copies what it holds, so
// rendering a large answer needs its size once, not the two or three times of a
// doubling slice.
type chunks struct {
	parts [][]byte
	n     int64
}

func (c *chunks) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(c.parts) == 0 || len(c.parts[len(c.parts)-1]) == chunkSize {
			c.parts = append(c.parts, make([]byte, 0, chunkSize))
		}
		last := &c.parts[len(c.parts)-1]
		k := min(len(p), chunkSize-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	c.n += int64(n)
	return n, nil
}

// maxContiguous is the largest answer seal makes one piece of: sent with one write
// instead of one per chunk (a cached index answer is written thousands of times a
// second, and each write to the connection is a system call), for a one-time copy.
const maxContiguous = 4 << 20

// seal ends writing: an answer up to maxContiguous becomes one piece of its exact size,
// a larger one keeps its chunks with the last one cut to size, so that what the cache
// holds is what it weighs.
func (c *chunks) seal() {
	switch {
	case len(c.parts) == 0:
	case c.n <= maxContiguous:
		one := make([]byte, 0, c.n)
		for _, p := range c.parts {
			one = append(one, p...)
		}
		c.parts = [][]byte{one}
	default:
		last := &c.parts[len(c.parts)-1]
		*last = append([]byte(nil), *last...)
	}
}

// Len is the number of bytes held.
func (c *chunks) Len() int64 { return c.n }

// WriteTo writes the bytes to w.
func (c *chunks) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, p := range c.parts {
		n, err := w.Write(p)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Reader reads the bytes from the start; readers are independent of each other.
func (c *chunks) Reader() io.Reader {
	rs := make([]io.Reader, len(c.parts))
	for i, p := range c.parts {
		rs[i] = &sliceReader{b: p}
	}
	return io.MultiReader(rs...)
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
