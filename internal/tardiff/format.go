// Package tardiff reads and writes tar-diff deltas (media type application/vnd.tar-diff),
// the layer deltas of Flatpak's OCI image deltas: a delta rebuilds a layer's new
// uncompressed tar, byte for byte, from the files of the old layer as the client has them
// installed. Diff makes a delta from the old and the new tar; Apply runs one against an
// old tree (a directory, DirSource) or an old tar (TarIndex).
//
// The format: the 8 bytes "tardf1\n\x00", then one zstd stream of operations, each an op
// byte, a uvarint size and, for Data, Open and AddData, size bytes of data:
//
//	Data (0)     emit data
//	Open (1)     data is a path in the old tree: make it the source, at position 0
//	Copy (2)     emit size bytes of the source, advancing
//	AddData (3)  emit size source bytes plus data, bytewise mod 256, advancing
//	Seek (4)     move the source to position size
//
// The client (flatpak ≥ 1.8, common/flatpak-oci-registry.c) resolves an Open path against
// the root of the installed commit, which holds the old layer's tree exactly as its tar
// names it (metadata, files/..., export/...). It does not follow symlinks there. So Diff
// only ever opens paths that name, in the old tar, one regular file and nothing else, with
// no ancestor that is anything but a directory; Apply refuses every other path.
//
// Nothing here holds a whole layer or file in memory: tars are read as streams, spilled to
// temporary files where random access is needed, and every size is bounded by Limits.
package tardiff

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// MediaType is the media type of a tar-diff blob.
const MediaType = "application/vnd.tar-diff"

// magic starts every delta.
const magic = "tardf1\n\x00"

// op is an operation code.
type op byte

const (
	opData    op = 0
	opOpen    op = 1
	opCopy    op = 2
	opAddData op = 3
	opSeek    op = 4
)

func (o op) String() string {
	switch o {
	case opData:
		return "Data"
	case opOpen:
		return "Open"
	case opCopy:
		return "Copy"
	case opAddData:
		return "AddData"
	case opSeek:
		return "Seek"
	}
	return fmt.Sprintf("op(%d)", byte(o))
}

// ErrFormat reports a delta that is not a well-formed tar-diff.
var ErrFormat = errors.New("invalid tar-diff")

// ErrTooLarge reports an input or output beyond a bound of Limits: a tar larger than
// MaxTarSize (a decompression bomb, or simply too large a layer), too many files, or a
// delta that expands beyond its bound.
var ErrTooLarge = errors.New("beyond the configured bound")

// ErrPath reports an Open path the applier refuses: absolute, not clean, with "..", a
// symlinked parent, not a regular file, or outside the tree.
var ErrPath = errors.New("refused path")

// maxPath bounds an Open path (Linux's PATH_MAX); Diff never writes longer ones.
const maxPath = 4096

// encoder writes operations into the zstd stream of a delta. Data is coalesced: adjacent
// Data writes become one operation of up to maxDataOp bytes.
type encoder struct {
	zw      *zstd.Encoder
	pending []byte // Data not yet written
	scratch [binary.MaxVarintLen64 + 1]byte
	err     error
}

// maxDataOp bounds one Data operation, so an applier never needs a large buffer.
const maxDataOp = 1 << 20

func newEncoder(w io.Writer) (*encoder, error) {
	if _, err := io.WriteString(w, magic); err != nil {
		return nil, err
	}
	zw, _ := encoders.Get().(*zstd.Encoder)
	if zw == nil {
		// One encoder goroutine and one frame: bounded memory here, and a plain stream
		// for the client's streaming decompressor.
		var err error
		zw, err = zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithWindowSize(8<<20))
		if err != nil {
			return nil, err
		}
	} else {
		zw.Reset(w)
	}
	return &encoder{zw: zw}, nil
}

// encoders keeps zstd encoders between deltas: one costs 20 MiB of tables to set up,
// more than a small delta takes to write. The pool empties itself when memory is collected.
var encoders sync.Pool

func (e *encoder) head(o op, size uint64) {
	if e.err != nil {
		return
	}
	e.scratch[0] = byte(o)
	n := binary.PutUvarint(e.scratch[1:], size)
	_, e.err = e.zw.Write(e.scratch[:1+n])
}

func (e *encoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.zw.Write(p)
	}
}

// data emits p, coalesced with neighbouring data.
func (e *encoder) data(p []byte) {
	for len(p) > 0 {
		n := min(len(p), maxDataOp-len(e.pending))
		e.pending = append(e.pending, p[:n]...)
		p = p[n:]
		if len(e.pending) == maxDataOp {
			e.flush()
		}
	}
}

func (e *encoder) flush() {
	if len(e.pending) == 0 {
		return
	}
	e.head(opData, uint64(len(e.pending)))
	e.write(e.pending)
	e.pending = e.pending[:0]
}

func (e *encoder) open(path string) {
	e.flush()
	e.head(opOpen, uint64(len(path)))
	e.write([]byte(path))
}

func (e *encoder) copy(n int64) {
	e.flush()
	e.head(opCopy, uint64(n))
}

// addData emits the source's next len(diff) bytes plus diff.
func (e *encoder) addData(diff []byte) {
	e.flush()
	e.head(opAddData, uint64(len(diff)))
	e.write(diff)
}

func (e *encoder) seek(pos int64) {
	e.flush()
	e.head(opSeek, uint64(pos))
}

// close ends the zstd stream.
func (e *encoder) close() error {
	e.flush()
	if err := e.zw.Close(); e.err == nil {
		e.err = err
	}
	e.zw.Reset(nil)
	encoders.Put(e.zw)
	e.zw = nil
	return e.err
}

// Decoder reads the operations of a delta. It bounds what it reads: a delta whose
// decompressed stream exceeds maxStream fails with ErrTooLarge.
type Decoder struct {
	zr   *zstd.Decoder
	r    *bufio.Reader
	left int64 // decompressed bytes still allowed
	// payload is the data of the current operation still unread.
	payload int64
}

// NewDecoder checks the header of r and returns a decoder over its operations, which
// reads at most maxStream decompressed bytes.
func NewDecoder(r io.Reader, maxStream int64) (*Decoder, error) {
	var h [len(magic)]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	if string(h[:]) != magic {
		return nil, fmt.Errorf("%w: bad header %q", ErrFormat, h[:])
	}
	// The window bound keeps a hostile frame from claiming a huge buffer.
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20),
		zstd.WithDecoderMaxMemory(64<<20), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return &Decoder{zr: zr, r: bufio.NewReaderSize(zr, 64<<10), left: maxStream}, nil
}

// Close releases the decompressor.
func (d *Decoder) Close() { d.zr.Close() }

// next returns the next operation and its size; io.EOF when the stream ends cleanly
// between operations. The payload of the previous operation must have been read.
func (d *Decoder) next() (op, uint64, error) {
	if d.payload != 0 {
		return 0, 0, fmt.Errorf("%w: payload not consumed", ErrFormat)
	}
	b, err := d.r.ReadByte()
	if err == io.EOF {
		return 0, 0, io.EOF
	}
	if err != nil {
		return 0, 0, d.streamErr(err)
	}
	if err := d.spend(1); err != nil {
		return 0, 0, err
	}
	o := op(b)
	if o > opSeek {
		return 0, 0, fmt.Errorf("%w: unknown operation %d", ErrFormat, b)
	}
	size, err := binary.ReadUvarint(byteCounter{d})
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return 0, 0, err
		}
		return 0, 0, fmt.Errorf("%w: size of %s: %w", ErrFormat, o, d.streamErr(err))
	}
	switch o {
	case opData, opOpen, opAddData:
		if size > uint64(d.left) {
			return 0, 0, fmt.Errorf("%w: %s of %d bytes", ErrTooLarge, o, size)
		}
		d.payload = int64(size)
	}
	return o, size, nil
}

// read reads payload bytes of the current operation into p (at most what is left).
func (d *Decoder) read(p []byte) (int, error) {
	if int64(len(p)) > d.payload {
		p = p[:d.payload]
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := io.ReadFull(d.r, p)
	d.payload -= int64(n)
	if err != nil {
		return n, fmt.Errorf("%w: truncated payload: %w", ErrFormat, d.streamErr(err))
	}
	return n, d.spend(int64(n))
}

func (d *Decoder) spend(n int64) error {
	d.left -= n
	if d.left < 0 {
		return fmt.Errorf("%w: delta stream", ErrTooLarge)
	}
	return nil
}

// streamErr turns a premature end into a format error; zstd errors are format errors too.
func (d *Decoder) streamErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: unexpected end", ErrFormat)
	}
	if errors.Is(err, ErrTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrFormat, err)
}

// byteCounter reads single bytes for the varint, counting them against the bound.
type byteCounter struct{ d *Decoder }

func (b byteCounter) ReadByte() (byte, error) {
	c, err := b.d.r.ReadByte()
	if err != nil {
		return 0, err
	}
	return c, b.d.spend(1)
}
