package tardiff

import (
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
)

// Runs inside a changed file are found as rsync finds them: the old file is cut into
// blocks, each indexed by a weak hash that can roll over the new file one byte at a time
// and a strong hash that confirms a hit; a confirmed block grows backwards and forwards
// byte by byte into the longest equal run.

const (
	minBlock  = 64
	maxBlocks = 1 << 18 // the index of one old file: ≤ 4 MiB of table, 2 MiB of hashes
	rollMul   = 0x9E3779B1
)

// blockIndex indexes an old file's blocks.
type blockIndex struct {
	size   int      // block size
	top    uint32   // rollMul^(size-1), to take the outgoing byte out of the hash
	table  []uint64 // open addressing: weak<<32 | block+1; 0 is empty
	strong []uint64 // maphash of each block
	seed   maphash.Seed
}

func blockSize(oldSize int64) int {
	b := int64(minBlock)
	if n := (oldSize + maxBlocks - 1) / maxBlocks; n > b {
		b = (n + minBlock - 1) / minBlock * minBlock
	}
	return int(b)
}

// weak is the polynomial hash of p, the same that roll keeps up to date.
func weak(p []byte) uint32 {
	var h uint32
	for _, c := range p {
		h = h*rollMul + uint32(c)
	}
	return h
}

func (x *blockIndex) roll(h uint32, out, in byte) uint32 {
	return (h-uint32(out)*x.top)*rollMul + uint32(in)
}

func slot(h uint32, mask uint64) uint64 {
	return uint64(h*0x85EBCA6B^h>>13) & mask
}

// indexBlocks reads the old file once and indexes its whole blocks; a repeated block
// keeps its first place.
func indexBlocks(r io.ReaderAt, size int64, seed maphash.Seed) (*blockIndex, error) {
	bs := blockSize(size)
	n := int(size / int64(bs))
	x := &blockIndex{size: bs, seed: seed, strong: make([]uint64, n)}
	x.top = 1
	for range bs - 1 {
		x.top *= rollMul
	}
	x.table = make([]uint64, 1<<bits.Len(uint(2*n)))
	mask := uint64(len(x.table) - 1)
	chunk := make([]byte, (1<<20)/bs*bs)
	for k := 0; k < n; {
		m := min(n-k, len(chunk)/bs)
		p := chunk[:m*bs]
		if _, err := r.ReadAt(p, int64(k)*int64(bs)); err != nil {
			return nil, fmt.Errorf("read old file: %w", err)
		}
		for j := range m {
			blk := p[j*bs : (j+1)*bs]
			h := weak(blk)
			x.strong[k+j] = maphash.Bytes(seed, blk)
			for s := slot(h, mask); ; s = (s + 1) & mask {
				if x.table[s] == 0 {
					x.table[s] = uint64(h)<<32 | uint64(k+j+1)
					break
				}
				if uint32(x.table[s]>>32) == h {
					break
				}
			}
		}
		k += m
	}
	return x, nil
}

// lookup returns the block whose weak hash is h and whose contents hash as p does.
func (x *blockIndex) lookup(h uint32, p []byte) (int, bool) {
	mask := uint64(len(x.table) - 1)
	for s := slot(h, mask); ; s = (s + 1) & mask {
		e := x.table[s]
		if e == 0 {
			return 0, false
		}
		if uint32(e>>32) == h {
			k := int(uint32(e) - 1)
			return k, x.strong[k] == maphash.Bytes(x.seed, p)
		}
	}
}

// match encodes a changed file against the old file name: copied runs, and between them
// gaps (AddData or Data).
func (d *differ) match(nf newFile, name string, ref fileRef) error {
	if ref.size < minBlock || nf.size < minBlock {
		return d.gapsOf(nf, 0, nf.size, name, ref)
	}
	x, err := indexBlocks(d.old.section(ref), ref.size, maphash.MakeSeed())
	if err != nil {
		return err
	}
	bs := x.size
	buf := d.segmentFor(nf.size)
	for base := int64(0); base < nf.size; base += int64(len(buf)) {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		seg := buf[:min(int64(len(buf)), nf.size-base)]
		if _, err := nf.readAt(seg, base); err != nil {
			return fmt.Errorf("read new file: %w", err)
		}
		lit := 0 // start of the bytes not yet sent
		// A run that went on to the end of the last segment may go on here.
		if d.srcName == name && base > 0 {
			run, err := d.equalRun(seg, ref, d.srcPos)
			if err != nil {
				return err
			}
			if run > 0 {
				d.copyRun(name, d.srcPos, int64(run))
				lit = run
			}
		}
		p := lit
		var h uint32
		if p+bs <= len(seg) {
			h = weak(seg[p : p+bs])
		}
		for p+bs <= len(seg) {
			k, ok := x.lookup(h, seg[p:p+bs])
			if !ok {
				if p+bs < len(seg) {
					h = x.roll(h, seg[p], seg[p+bs])
				}
				p++
				if int64(p-lit) >= d.opts.segment/4 {
					// A long stretch with no match goes out, so gaps stay bounded.
					if err := d.gap(seg[lit:p], name, ref); err != nil {
						return err
					}
					lit = p
				}
				continue
			}
			start, pos := p, int64(k)*int64(bs)
			// Backwards over bytes not yet sent, at most a block's worth (an earlier
			// equal run would have hit an earlier block).
			back, err := d.backRun(seg[lit:p], ref, pos, bs)
			if err != nil {
				return err
			}
			start -= back
			pos -= int64(back)
			run, err := d.equalRun(seg[p:], ref, int64(k)*int64(bs))
			if err != nil {
				return err
			}
			if err := d.gap(seg[lit:start], name, ref); err != nil {
				return err
			}
			d.copyRun(name, pos, int64(back+run))
			p += run
			lit = p
			if p+bs <= len(seg) {
				h = weak(seg[p : p+bs])
			}
		}
		if err := d.gap(seg[lit:], name, ref); err != nil {
			return err
		}
	}
	return d.enc.err
}

// backRun is how many bytes at the end of p equal the old file's bytes just before pos,
// at most limit.
func (d *differ) backRun(p []byte, ref fileRef, pos int64, limit int) (int, error) {
	n := int(min(int64(min(len(p), limit)), pos))
	if n == 0 {
		return 0, nil
	}
	if cap(d.cmp) < n {
		d.cmp = make([]byte, max(n, 64<<10))
	}
	o := d.cmp[:n]
	if _, err := d.old.section(ref).ReadAt(o, pos-int64(n)); err != nil {
		return 0, fmt.Errorf("read old file: %w", err)
	}
	k := 0
	for k < n && p[len(p)-1-k] == o[n-1-k] {
		k++
	}
	return k, nil
}

// gapsOf sends bytes [from, to) of a file too small to index, as gaps.
func (d *differ) gapsOf(nf newFile, from, to int64, name string, ref fileRef) error {
	seg := d.segmentFor(to - from)
	for from < to {
		p := seg[:min(to-from, int64(len(seg)))]
		if _, err := nf.readAt(p, from); err != nil {
			return fmt.Errorf("read new file: %w", err)
		}
		if err := d.gap(p, name, ref); err != nil {
			return err
		}
		from += int64(len(p))
	}
	return nil
}
