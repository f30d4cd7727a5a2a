package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal. /dev/null is a character device too,
// which is why this asks the terminal driver and not the file mode.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress starts the progress report of a transfer on standard error, as
// --progress and --quiet say: a redrawn bar only where a person watches (standard
// error is a terminal, TERM is not dumb), a line per blob for CI logs, or nothing. A nil
// *progress reports nothing, so callers need not care.
func (e *env) newProgress(label string) *progress {
	mode := e.progress
	if e.quiet {
		mode = "none"
	}
	switch mode {
	case "plain":
		return &progress{w: e.stderr, label: label, start: time.Now(), plain: true}
	case "none":
		return nil
	}
	if !isTerminal(e.stderr) || os.Getenv("TERM") == "dumb" {
		return nil
	}
	p := &progress{w: e.stderr, label: label, start: time.Now(), stop: make(chan struct{}), interval: 200 * time.Millisecond}
	p.stopped.Add(1)
	go p.loop()
	return p
}

// progress reports a transfer: blobs and bytes done of the total known so far, and
// the rate; as one redrawn line, or (plain) as a line per blob and a summary.
type progress struct {
	w                io.Writer
	label            string
	plain            bool
	start            time.Time
	total, done      atomic.Int64
	blobs, blobsDone atomic.Int64
	stop             chan struct{} // nil in plain mode, which draws no bar
	stopped          sync.WaitGroup
	interval         time.Duration
	lastWidth        int
	mu               sync.Mutex // guards writing
	finished         sync.Once
}

func (p *progress) loop() {
	defer p.stopped.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
		}
	}
}

// expect adds a blob of size bytes to the total.
func (p *progress) expect(size int64) {
	if p == nil {
		return
	}
	p.blobs.Add(1)
	p.total.Add(size)
}

// reader counts the bytes read through r.
func (p *progress) reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &countingReader{r: r, n: &p.done}
}

// readSeeker counts the bytes read through r and stays seekable, so that an upload
// can resume; bytes sent again after a seek back are not counted twice.
func (p *progress) readSeeker(r io.ReadSeeker) io.ReadSeeker {
	if p == nil {
		return r
	}
	return &countingReadSeeker{r: r, n: &p.done}
}

// skip counts a blob that needed no transfer (already there, or mounted) as done.
func (p *progress) skip(d string, size int64) {
	if p == nil {
		return
	}
	p.done.Add(size)
	p.blobsDone.Add(1)
	p.line("%s %s: %s, already there", p.label, shortDigest(d), byteSize(size))
}

// blobDone counts a blob as transferred.
func (p *progress) blobDone(d string, size int64) {
	if p == nil {
		return
	}
	p.blobsDone.Add(1)
	p.line("%s %s: %s done", p.label, shortDigest(d), byteSize(size))
}

// line writes one line in plain mode.
func (p *progress) line(format string, args ...any) {
	if !p.plain {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// finish draws the final state and ends the line (plain: writes a summary); later
// calls do nothing.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.finished.Do(func() {
		if p.plain {
			p.line("%s: %d blobs, %s in %s", p.label, p.blobsDone.Load(), byteSize(p.done.Load()), time.Since(p.start).Round(time.Millisecond))
			return
		}
		close(p.stop)
		p.stopped.Wait()
		p.draw()
		fmt.Fprintln(p.w)
	})
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	done, total := p.done.Load(), p.total.Load()
	const width = 24
	filled := width
	if total > 0 {
		filled = int(min(done, total) * width / total)
	}
	rate := float64(done) / max(time.Since(p.start).Seconds(), 0.001)
	line := fmt.Sprintf("%s [%s%s] %d/%d blobs  %s / %s  %s/s", p.label,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		p.blobsDone.Load(), p.blobs.Load(), byteSize(done), byteSize(total), byteSize(int64(rate)))
	pad := max(p.lastWidth-len(line), 0)
	p.lastWidth = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

type countingReadSeeker struct {
	r        io.ReadSeeker
	n        *atomic.Int64
	pos, max int64 // position, and the furthest position reached
}

func (c *countingReadSeeker) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.pos += int64(n)
	if c.pos > c.max {
		c.n.Add(c.pos - c.max)
		c.max = c.pos
	}
	return n, err
}

func (c *countingReadSeeker) Seek(off int64, whence int) (int64, error) {
	pos, err := c.r.Seek(off, whence)
	if err == nil {
		c.pos = pos
	}
	return pos, err
}

func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// byteSize formats n in binary units, as transfer tools do.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
