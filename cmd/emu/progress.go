package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressSource is what the progress bar reads from a running machine:
// the largest emulated clock so far, safe to call from another goroutine
// (kernelmodel.Machine.Progress).
type progressSource interface {
	Progress() uint64
}

// progress draws a one-line progress bar on stderr while runs take longer
// than a second: runs done out of -r, emulated cycles so far and the
// emulation rate. It draws only when stderr is a terminal, not under CI,
// and not with -q or -v; results on stdout are never touched.
type progress struct {
	w       io.Writer
	enabled bool
	t0      time.Time

	mu    sync.Mutex
	src   progressSource
	run   int
	runs  int
	drawn bool
	stop  chan struct{}
	wg    sync.WaitGroup
}

// progressDelay is how long a command runs before the bar appears.
const progressDelay = time.Second

func newProgress(stderr io.Writer, want bool) *progress {
	p := &progress{w: stderr}
	if f, ok := stderr.(*os.File); ok && want && os.Getenv("CI") == "" && term.IsTerminal(int(f.Fd())) {
		p.enabled = true
	}
	return p
}

// start begins tracking run i (0-based) of n on src.
func (p *progress) start(src progressSource, i, n int) {
	if p == nil || !p.enabled {
		return
	}
	if p.t0.IsZero() {
		p.t0 = time.Now()
	}
	p.mu.Lock()
	p.src, p.run, p.runs = src, i, n
	p.mu.Unlock()
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.loop(p.stop)
}

func (p *progress) loop(stop chan struct{}) {
	defer p.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if now.Sub(p.t0) < progressDelay {
				continue
			}
			p.mu.Lock()
			cyc := p.src.Progress()
			rate := float64(cyc) / now.Sub(start).Seconds()
			p.draw(cyc, rate, now.Sub(p.t0))
			p.mu.Unlock()
		}
	}
}

// draw writes the bar; p.mu is held.
func (p *progress) draw(cyc uint64, rate float64, elapsed time.Duration) {
	width := 80
	if f, ok := p.w.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			width = w
		}
	}
	info := fmt.Sprintf(" %s cycles emulated (%s/s) %4.1fs", siCount(float64(cyc)), siCount(rate), elapsed.Seconds())
	line := "emu: running" + info
	if p.runs > 1 {
		head := fmt.Sprintf("emu: run %d/%d ", p.run+1, p.runs)
		barW := max(10, min(40, width-len(head)-len(info)-3))
		filled := p.run * barW / p.runs
		bar := strings.Repeat("=", filled) + ">" + strings.Repeat(" ", barW-filled)
		line = head + "[" + bar[:barW] + "]" + info
	}
	if len(line) > width-1 {
		line = line[:width-1]
	}
	fmt.Fprintf(p.w, "\r%-*s", width-1, line)
	p.drawn = true
}

// done ends tracking of the current run and clears the bar's line.
func (p *progress) done() {
	if p == nil || !p.enabled || p.stop == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.stop = nil
	p.mu.Lock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	p.mu.Unlock()
}

// siCount formats a count with an SI suffix: 1.23G.
func siCount(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// points draws the bar of emu sweep: points done out of total. It is
// drawn at once (a sweep of quick points still shows where it is) and
// only where the run bar would be.
func (p *progress) points(done, total int) {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.t0.IsZero() {
		p.t0 = time.Now()
	}
	width := 80
	if f, ok := p.w.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			width = w
		}
	}
	head := fmt.Sprintf("emu: sweep %d/%d points ", done, total)
	info := fmt.Sprintf(" %4.1fs", time.Since(p.t0).Seconds())
	barW := max(10, min(40, width-len(head)-len(info)-3))
	filled := done * barW / max(total, 1)
	bar := strings.Repeat("=", filled) + ">" + strings.Repeat(" ", barW-filled)
	line := head + "[" + bar[:barW] + "]" + info
	if len(line) > width-1 {
		line = line[:width-1]
	}
	fmt.Fprintf(p.w, "\r%-*s", width-1, line)
	p.drawn = true
}

// pointsDone clears the sweep's bar.
func (p *progress) pointsDone() {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
