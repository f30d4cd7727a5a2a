package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// isTerminal reports whether w is a terminal, the only place progress bars belong.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress draws one status line for a transfer: blobs and bytes done of the total
// known so far, and the rate. A nil *progress draws nothing, so callers need not care
// whether they run on a terminal.
type progress struct {
	w                io.Writer
	label            string
	start            time.Time
	total, done      atomic.Int64
	blobs, blobsDone atomic.Int64
	stop             chan struct{}
	stopped          sync.WaitGroup
	interval         time.Duration
	lastWidth        int
	mu               sync.Mutex // guards drawing
	finished         sync.Once
}

// newProgress starts a progress line on w, or returns nil when w is nil.
func newProgress(w io.Writer, label string) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, label: label, start: time.Now(), stop: make(chan struct{}), interval: 200 * time.Millisecond}
	p.stopped.Add(1)
	go p.loop()
	return p
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

// skip counts a blob that needed no transfer as done.
func (p *progress) skip(size int64) {
	if p == nil {
		return
	}
	p.done.Add(size)
	p.blobDone()
}

func (p *progress) blobDone() {
	if p == nil {
		return
	}
	p.blobsDone.Add(1)
}

// finish draws the final state and ends the line; later calls do nothing.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.finished.Do(func() {
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
