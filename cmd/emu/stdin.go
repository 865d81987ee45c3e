package main

import (
	"context"
	"io"
)

// ctxReader is the guest's stdin: emu's stdin, read only when and as much
// as the guest asks (so nothing is taken from a shared stdin beyond the
// guest's own reads), but a read blocked on the terminal or a pipe ends
// with end of file when ctx is done, so that Ctrl-C, SIGTERM and -timeout
// stop a guest waiting for input. The read itself goes on in a goroutine,
// which exits with emu.
type ctxReader struct {
	ctx     context.Context
	r       io.Reader
	req     chan int
	res     chan readResult
	pending bool   // a read request is outstanding
	left    []byte // data of a request that outlived its Read call
}

type readResult struct {
	b   []byte
	err error
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	return &ctxReader{ctx: ctx, r: r}
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if len(c.left) > 0 {
		n := copy(p, c.left)
		c.left = c.left[n:]
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.ctx.Err() != nil {
		return 0, io.EOF
	}
	if c.req == nil {
		c.req, c.res = make(chan int), make(chan readResult, 1)
		go func() {
			var buf []byte
			for n := range c.req {
				if cap(buf) < n {
					buf = make([]byte, n)
				}
				k, err := c.r.Read(buf[:n])
				c.res <- readResult{buf[:k:k], err}
			}
		}()
	}
	if !c.pending {
		c.req <- len(p)
		c.pending = true
	}
	select {
	case rr := <-c.res:
		c.pending = false
		n := copy(p, rr.b)
		c.left = append(c.left[:0], rr.b[n:]...)
		if n < len(rr.b) {
			return n, nil
		}
		return n, rr.err
	case <-c.ctx.Done():
		return 0, io.EOF
	}
}
