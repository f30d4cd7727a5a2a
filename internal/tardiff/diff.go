package tardiff

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
)

// Options configure Diff.
type Options struct {
	Limits
	// TempDir is where the contents of large new files are spilled while they are
	// compared ("" for the system's temporary directory).
	TempDir string

	// memFile and segment replace the sizes below in tests (0: those).
	memFile, segment int64
}

// Stats says where the bytes of the new tar came from.
type Stats struct {
	// TarSize is the length of the new tar.
	TarSize int64
	// Headers counts the bytes that are not file contents (headers, padding, end blocks),
	// all sent as Data.
	Headers int64
	// Reused counts the bytes of new files found whole, by content, in the old layer
	// (ReusedFiles of them), copied with Open and Copy.
	Reused      int64
	ReusedFiles int
	// Matched counts the bytes of changed files copied from runs of an old file.
	Matched int64
	// Added counts the bytes rebuilt from an old file's bytes plus a difference (AddData).
	Added int64
	// Literal counts the bytes of file contents sent as Data.
	Literal int64
}

// memFile is the size up to which a new file's contents are held in memory rather than
// spilled; segment is how much of a changed file is compared at once.
const (
	memFile = 1 << 20
	segment = 4 << 20
)

func (o Options) withDefaults() Options {
	o.Limits = o.Limits.withDefaults()
	if o.memFile <= 0 {
		o.memFile = memFile
	}
	if o.segment <= 0 {
		o.segment = segment
	}
	return o
}

// Diff writes to w a delta that rebuilds the tar read from newTar out of old's files.
// Headers travel as Data; each regular file's contents are, in order of preference, an
// old file with the same contents (wherever it is, whatever its name), runs of the old
// file at the same path (or, for a renamed file, of one with the same base name) matched
// with a rolling hash and copied, the same file's bytes plus a small difference, and
// last Data. Memory stays bounded whatever the sizes: files larger than 1 MiB are spilled
// to TempDir and compared 4 MiB at a time.
func Diff(ctx context.Context, old *TarIndex, newTar io.Reader, w io.Writer, opts Options) (Stats, error) {
	opts = opts.withDefaults()
	enc, err := newEncoder(w)
	if err != nil {
		return Stats{}, err
	}
	d := &differ{ctx: ctx, old: old, enc: enc, opts: opts}
	defer d.closeSpill()
	sc := newScanner(newTar, opts.MaxTarSize, func(p []byte) error {
		d.enc.data(p)
		d.stats.Headers += int64(len(p))
		return d.enc.err
	})
	entries := 0
	for {
		if err := ctx.Err(); err != nil {
			return d.stats, err
		}
		e, err := sc.next(true)
		if err == io.EOF {
			break
		}
		if err != nil {
			return d.stats, err
		}
		if entries++; entries > opts.MaxFiles {
			return d.stats, fmt.Errorf("%w: more than %d tar entries", ErrTooLarge, opts.MaxFiles)
		}
		if !e.regular || e.hdr.Size == 0 {
			continue
		}
		if err := d.file(e, sc.contentReader()); err != nil {
			return d.stats, err
		}
	}
	if err := enc.close(); err != nil {
		return d.stats, fmt.Errorf("write delta: %w", err)
	}
	d.stats.TarSize = sc.tap.n
	return d.stats, nil
}

type differ struct {
	ctx   context.Context
	old   *TarIndex
	enc   *encoder
	opts  Options
	stats Stats

	// The source as the applier will have it after the operations written so far.
	srcName string
	srcPos  int64

	buf   []byte   // a small new file's contents
	spill *os.File // a large new file's contents
	seg   []byte   // a segment of a changed file
	cmp   []byte   // old bytes to compare with
}

// newFile is a new file's contents, held in memory or spilled.
type newFile struct {
	size int64
	mem  []byte
	f    *os.File
}

func (n newFile) readAt(p []byte, off int64) (int, error) {
	if n.mem != nil {
		return copy(p, n.mem[off:]), nil
	}
	return n.f.ReadAt(p, off)
}

func (d *differ) file(e entry, content io.Reader) error {
	nf, sum, err := d.load(e.hdr.Size, content)
	if err != nil {
		return err
	}
	if name, ok := d.old.byHash[sum]; ok && d.old.files[name].size == nf.size {
		d.openAt(name, 0)
		d.enc.copy(nf.size)
		d.srcPos += nf.size
		d.stats.Reused += nf.size
		d.stats.ReusedFiles++
		return d.enc.err
	}
	name, ref, ok := d.candidate(e.name, nf.size)
	if !ok {
		return d.literal(nf, 0, nf.size)
	}
	return d.match(nf, name, ref)
}

// load reads a new file's contents (size bytes), into memory or the spill file, and
// hashes them.
func (d *differ) load(size int64, content io.Reader) (newFile, [32]byte, error) {
	h := sha256.New()
	var sum [32]byte
	if size <= d.opts.memFile {
		d.buf = grow(d.buf, int(size))
		p := d.buf[:size]
		if _, err := io.ReadFull(content, p); err != nil {
			return newFile{}, sum, fmt.Errorf("read new file: %w", err)
		}
		h.Write(p)
		h.Sum(sum[:0])
		return newFile{size: size, mem: p}, sum, nil
	}
	if d.spill == nil {
		f, err := os.CreateTemp(d.opts.TempDir, "tardiff-new-*")
		if err != nil {
			return newFile{}, sum, err
		}
		_ = os.Remove(f.Name())
		d.spill = f
	}
	if err := d.spill.Truncate(0); err != nil {
		return newFile{}, sum, err
	}
	if _, err := d.spill.Seek(0, io.SeekStart); err != nil {
		return newFile{}, sum, err
	}
	d.buf = grow(d.buf, 64<<10)
	n, err := io.CopyBuffer(io.MultiWriter(d.spill, h), content, d.buf)
	if err != nil {
		return newFile{}, sum, fmt.Errorf("spill new file: %w", err)
	}
	if n != size {
		return newFile{}, sum, fmt.Errorf("read new file: %d of %d bytes", n, size)
	}
	h.Sum(sum[:0])
	return newFile{size: size, f: d.spill}, sum, nil
}

// grow returns b with room for n bytes, keeping it when it has.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:cap(b)]
	}
	return make([]byte, n)
}

// segmentFor returns the segment buffer, large enough for n bytes of a file (at most a
// segment).
func (d *differ) segmentFor(n int64) []byte {
	d.seg = grow(d.seg, int(min(n, d.opts.segment)))
	return d.seg
}

func (d *differ) closeSpill() {
	if d.spill != nil {
		d.spill.Close()
	}
}

// candidate picks the old file to compare a changed file with: the one at the same path,
// else the one with the same base name whose size is closest.
func (d *differ) candidate(name string, size int64) (string, fileRef, bool) {
	if name == "" {
		return "", fileRef{}, false
	}
	if ref, ok := d.old.files[name]; ok {
		return name, ref, true
	}
	best, found := "", false
	var bestRef fileRef
	for _, p := range d.old.byBase[path.Base(name)] {
		ref := d.old.files[p]
		if !found || abs(ref.size-size) < abs(bestRef.size-size) {
			best, bestRef, found = p, ref, true
		}
	}
	return best, bestRef, found
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// openAt makes name the source at pos, with as few operations as it takes.
func (d *differ) openAt(name string, pos int64) {
	if d.srcName != name {
		d.enc.open(name)
		d.srcName, d.srcPos = name, 0
	}
	if d.srcPos != pos {
		d.enc.seek(pos)
		d.srcPos = pos
	}
}

// literal sends bytes [from, to) of nf as Data.
func (d *differ) literal(nf newFile, from, to int64) error {
	seg := d.segmentFor(to - from)
	for from < to {
		p := seg[:min(to-from, int64(len(seg)))]
		if _, err := nf.readAt(p, from); err != nil {
			return fmt.Errorf("read new file: %w", err)
		}
		d.enc.data(p)
		d.stats.Literal += int64(len(p))
		from += int64(len(p))
	}
	return d.enc.err
}

// gap sends p, new bytes between matches, as the old file's bytes from the source's
// position plus a difference when most of them are equal there (a rebuilt binary whose
// addresses moved), else as Data.
func (d *differ) gap(p []byte, name string, ref fileRef) error {
	if len(p) == 0 {
		return nil
	}
	pos := d.srcPos
	if d.srcName != name {
		pos = 0
	}
	if len(p) >= 8 && pos+int64(len(p)) <= ref.size {
		if cap(d.cmp) < len(p) {
			d.cmp = make([]byte, len(p))
		}
		o := d.cmp[:len(p)]
		if _, err := d.old.section(ref).ReadAt(o, pos); err != nil {
			return fmt.Errorf("read old file: %w", err)
		}
		equal := 0
		for i := range p {
			if p[i] == o[i] {
				equal++
			}
		}
		if equal*2 >= len(p) {
			for i := range o {
				o[i] = p[i] - o[i]
			}
			d.openAt(name, pos)
			d.enc.addData(o)
			d.srcPos += int64(len(p))
			d.stats.Added += int64(len(p))
			return d.enc.err
		}
	}
	d.enc.data(p)
	d.stats.Literal += int64(len(p))
	return d.enc.err
}

// copyRun sends n bytes copied from the old file at pos.
func (d *differ) copyRun(name string, pos, n int64) {
	d.openAt(name, pos)
	d.enc.copy(n)
	d.srcPos += n
	d.stats.Matched += n
}

// equalRun is how many bytes from the start of p equal the old file's bytes from pos
// (at most len(p), never beyond the old file's end).
func (d *differ) equalRun(p []byte, ref fileRef, pos int64) (int, error) {
	sec := d.old.section(ref)
	if cap(d.cmp) < 64<<10 {
		d.cmp = make([]byte, 64<<10)
	}
	run := 0
	for run < len(p) && pos < ref.size {
		o := d.cmp[:min(int64(len(p)-run), int64(64<<10), ref.size-pos)]
		if _, err := sec.ReadAt(o, pos); err != nil {
			return run, fmt.Errorf("read old file: %w", err)
		}
		k := commonPrefix(p[run:], o)
		run += k
		pos += int64(k)
		if k < len(o) {
			break
		}
	}
	return run, nil
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	// Eight bytes at a time until they differ.
	i := 0
	for ; i+8 <= n && bytes.Equal(a[i:i+8], b[i:i+8]); i += 8 {
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}
