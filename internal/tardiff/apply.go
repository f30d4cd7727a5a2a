package tardiff

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// File is an opened source file.
type File interface {
	io.ReadSeeker
	io.Closer
}

// Source is the old tree a delta reads from. Open returns the regular file at a clean
// relative path, or an error wrapping ErrPath for any path it refuses.
type Source interface {
	Open(name string) (File, error)
}

// ApplyLimits bound what applying a delta may do.
type ApplyLimits struct {
	// MaxOutput bounds the tar written, in bytes (default 4 GiB).
	MaxOutput int64
	// MaxStream bounds the delta's decompressed operations, in bytes (default MaxOutput
	// plus 64 MiB): a stream of Opens and Seeks writes nothing, and must end too.
	MaxStream int64
}

func (l ApplyLimits) withDefaults() ApplyLimits {
	if l.MaxOutput <= 0 {
		l.MaxOutput = 4 << 30
	}
	if l.MaxStream <= 0 {
		l.MaxStream = l.MaxOutput + 64<<20
	}
	return l
}

// Apply runs the delta read from r against src and writes the tar it rebuilds to w. It
// refuses what flatpak's applier would fail on (an unknown operation, a Copy or AddData
// without an open source or beyond its end) and, stricter than flatpak, a Seek beyond the
// source's end and every path src refuses.
func Apply(ctx context.Context, r io.Reader, src Source, w io.Writer, limits ApplyLimits) (err error) {
	limits = limits.withDefaults()
	d, err := NewDecoder(r, limits.MaxStream)
	if err != nil {
		return err
	}
	defer d.Close()
	a := &applier{d: d, src: src, w: w, left: limits.MaxOutput, buf: make([]byte, 64<<10), buf2: make([]byte, 64<<10)}
	defer func() {
		if a.cur != nil {
			if cerr := a.cur.Close(); err == nil {
				err = cerr
			}
		}
	}()
	for ops := 0; ; ops++ {
		if ops%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		o, size, err := d.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := a.do(o, size); err != nil {
			return fmt.Errorf("%s %d: %w", o, size, err)
		}
	}
}

type applier struct {
	d         *Decoder
	src       Source
	w         io.Writer
	left      int64 // output bytes still allowed
	cur       File
	pos, size int64 // of cur
	buf, buf2 []byte
}

func (a *applier) do(o op, size uint64) error {
	switch o {
	case opData:
		return a.emit(int64(size), func(p []byte) error {
			_, err := a.d.read(p)
			return err
		})
	case opOpen:
		return a.open(size)
	case opCopy, opAddData:
		if a.cur == nil {
			return fmt.Errorf("%w: no source open", ErrFormat)
		}
		if size > uint64(a.size-a.pos) {
			return fmt.Errorf("%w: beyond the source's end (%d of %d bytes left)", ErrFormat, a.size-a.pos, a.size)
		}
		n := int64(size)
		err := a.emit(n, func(p []byte) error {
			if _, err := io.ReadFull(a.cur, p); err != nil {
				return fmt.Errorf("read source: %w", err)
			}
			if o == opCopy {
				return nil
			}
			q := a.buf2[:len(p)]
			if _, err := a.d.read(q); err != nil {
				return err
			}
			for i := range p {
				p[i] += q[i]
			}
			return nil
		})
		a.pos += n
		return err
	case opSeek:
		if a.cur == nil {
			return fmt.Errorf("%w: no source open", ErrFormat)
		}
		if size > uint64(a.size) {
			return fmt.Errorf("%w: seek beyond the source's end (%d bytes)", ErrFormat, a.size)
		}
		if _, err := a.cur.Seek(int64(size), io.SeekStart); err != nil {
			return err
		}
		a.pos = int64(size)
		return nil
	}
	return fmt.Errorf("%w: unknown operation", ErrFormat)
}

// emit writes n bytes that fill fills chunk by chunk.
func (a *applier) emit(n int64, fill func([]byte) error) error {
	if n > a.left {
		return fmt.Errorf("%w: output beyond %d bytes", ErrTooLarge, a.left)
	}
	a.left -= n
	for n > 0 {
		p := a.buf[:min(n, int64(len(a.buf)))]
		if err := fill(p); err != nil {
			return err
		}
		if _, err := a.w.Write(p); err != nil {
			return err
		}
		n -= int64(len(p))
	}
	return nil
}

func (a *applier) open(size uint64) error {
	if size > maxPath {
		return fmt.Errorf("%w: path of %d bytes", ErrPath, size)
	}
	p := make([]byte, size)
	if _, err := a.d.read(p); err != nil {
		return err
	}
	name := string(p)
	if a.cur != nil {
		err := a.cur.Close()
		a.cur = nil
		if err != nil {
			return err
		}
	}
	if !validPath(name) {
		return fmt.Errorf("%w: %q", ErrPath, name)
	}
	f, err := a.src.Open(name)
	if err != nil {
		if !errors.Is(err, ErrPath) {
			err = fmt.Errorf("%w: %q: %w", ErrPath, name, err)
		}
		return err
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return err
	}
	a.cur, a.pos, a.size = f, 0, end
	return nil
}
