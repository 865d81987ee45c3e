package kernelmodel

import "github.com/tlbemu/emu/ipi"

// Spin waits without goroutine switches.
//
// A CPU waiting for a spinlock, for mmap_lock (rwsem_optimistic_spin, see
// rwsem) or in csd_lock_wait polls every SpinPoll cycles with interrupts
// enabled:
//
//	for !done { Clock += SpinPoll; preempt() }
//
// skipPolls already jumps over the polls that cannot end the wait while the
// waiter holds the baton. What is left is the baton itself: whenever the
// waiter is the lowest vCPU it gets the baton, polls once more (the lock is
// still held), is ahead again and hands the baton on. At 256 vCPUs all
// faulting under one mmap_lock, that is a goroutine switch per waiter per
// quantum, almost all of page_fault's host time.
//
// The waiter's turn is a function of machine state only (its clock, the
// lock, its mailbox, the other vCPUs' times), so the vCPU that would hand
// it the baton runs the turn itself (spinPass): the same code, in the same
// order, on the waiter's state, up to the waiter's own next hand-off. The
// waiter's goroutine sleeps on until its turn does something else: the
// lock is released or granted, the acknowledgements are in, an interrupt
// is due, the run ends. Then it is woken where it waits, at the top of
// preempt's loop, which is exactly where spinPass stopped. So the waiter is
// charged the cycles its own polls would charge, poll for poll, and every
// hand-off happens at the same (time, id): counters cannot move.

// spinKind is what a spin wait waits for.
type spinKind uint8

const (
	spinNone      spinKind = iota
	spinLockWait           // spin_lock: the lock's owner to release it
	spinRwsemWait          // mmap_lock: the waiter's grant
	spinCSDWait            // csd_lock_wait: every target's acknowledgement
)

// spinState is a vCPU's spin wait.
type spinState struct {
	kind spinKind
	lock *spinlock
	rw   *rwWaiter
	csd  *flushTLBInfo
	// until, if not 0, ends an ungranted rwsem wait at that clock: a
	// writer's spin on a reader-owned rwsem is bounded (rwsemAcquire).
	until uint64
	// parked: the vCPU's goroutine waits for the baton in one of the wait
	// loop's own hand-offs (not in an interrupt handler it runs while
	// waiting), so when it gets the baton it resumes at the top of
	// preempt's loop: what spinPass runs.
	parked bool
}

// spinDone reports whether v's wait is over.
func (v *VCPU) spinDone() bool {
	switch s := &v.spin; s.kind {
	case spinLockWait:
		return s.lock.owner == 0 && v.c.Clock >= s.lock.freeAt
	case spinRwsemWait:
		if !s.rw.granted {
			return s.until != 0 && v.c.Clock >= s.until
		}
		return v.c.Clock >= s.rw.at
	case spinCSDWait:
		return s.csd.pending == 0
	}
	return true
}

// spinReadyAt is the clock from which v's wait can end once the lock was
// released or the rwsem granted (at a clock ahead of v's), else ipi.Never.
func (v *VCPU) spinReadyAt() uint64 {
	switch s := &v.spin; s.kind {
	case spinLockWait:
		if s.lock.owner == 0 {
			return s.lock.freeAt
		}
	case spinRwsemWait:
		if s.rw.granted {
			return s.rw.at
		}
		if s.until != 0 {
			return s.until
		}
	}
	return ipi.Never
}

// spinWait polls until the wait s is over. csd_lock_wait also hands the
// baton on as soon as it is behind another vCPU, not only a quantum ahead
// (sendCallFunctionIPIs). An interrupt handler run while v waits may spin
// in turn; the outer wait is restored after it.
func (v *VCPU) spinWait(s spinState) {
	m := v.m
	outer := v.spin
	v.spin = s
	for !v.spinDone() {
		v.skipPolls()
		v.c.Clock += m.cfg.Costs.SpinPoll
		if v.spin.kind == spinCSDWait {
			if o, e := m.pickEff(v); o != nil && e != ipi.Never && e < v.c.Clock {
				v.spinHandoff(o)
			}
		}
		v.preemptFrom(true)
	}
	v.spin = outer
}

// spinHandoff is handoff from a spin wait loop: it marks the wait as one
// spinPass may continue while v's goroutine sleeps.
func (v *VCPU) spinHandoff(u *VCPU) {
	if v.m.phase(v) {
		return
	}
	v.spin.parked = true
	v.m.passBaton(v, u)
	v.spin.parked = false
}

// spinQuiet reports whether the top of preempt's loop would only look on
// w: no stop of the run, no broadcast invalidation to complete, no
// interrupt to take.
func (w *VCPU) spinQuiet() bool {
	m := w.m
	if m.stopped || m.ctx.Err() != nil || m.cfg.MaxCycles != 0 && w.c.Clock > m.cfg.MaxCycles {
		return false
	}
	if m.bc.on {
		return false // completeBroadcasts may have work: w runs it itself
	}
	return w.irqOff != 0 || w.inIRQ || w.mbox.Earliest() > w.c.Clock
}

// spinPass runs the spin wait of w (w.spin.parked: its goroutine waits in
// the loop's hand-off) on the caller's goroutine, from where w's goroutine
// would resume to w's next hand-off, and returns the vCPU w hands the baton
// to. It returns nil when w must run itself (spinDone, !spinQuiet), with w
// at the top of preempt's loop, where its goroutine resumes. The steps are
// spinWait's and preemptFrom's, one for one; the caller holds the baton
// and has refreshed its own queue key, so w is the holder meanwhile.
func (w *VCPU) spinPass() *VCPU {
	m := w.m
	m.spinPasses++
	m.par.dirty = true // gotBaton's: w runs serially
	q := m.cfg.Quantum
	for {
		// preemptFrom's loop.
		if !w.spinQuiet() {
			return nil
		}
		if c := w.c.Clock; c > m.progress.Load() { // checkStop's
			m.progress.Store(c)
		}
		if o, e := m.pickEff(w); o != nil && e != ipi.Never && w.c.Clock >= e+q {
			if m.phase(w) { // handoff's
				continue
			}
			m.requeue(w)
			return o
		}
		// spinWait's loop.
		if w.spinDone() {
			return nil
		}
		w.skipPolls()
		w.c.Clock += m.cfg.Costs.SpinPoll
		if w.spin.kind == spinCSDWait {
			if o, e := m.pickEff(w); o != nil && e != ipi.Never && e < w.c.Clock {
				if m.phase(w) {
					continue
				}
				m.requeue(w)
				return o
			}
		}
	}
}
