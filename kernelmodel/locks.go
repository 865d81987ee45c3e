package kernelmodel

// spinlock is an emulated spinlock held across emulated time. A waiter spins
// with interrupts enabled (spin_lock, not spin_lock_irq), so it keeps taking
// IPIs, and its waiting cycles are counted.
//
// It holds no pointer, so that the per-frame struct page table holding
// every page table's split PTE lock (Page.ptl) is not scanned by the
// garbage collector and can live outside its heap (hostmem).
type spinlock struct {
	name  lockName
	owner lineWriter // the holder (0: free)
	last  lineWriter // the CPU that released it last: where its line is
	// freeAt is the releaser's clock at the last release. A CPU behind it
	// in emulated time (by up to a quantum) finds owner nil, but it must
	// not take the lock before the release: it spins until freeAt, so
	// holds never overlap in emulated time.
	freeAt uint64
}

// lockName names a spinlock in panics and traces.
type lockName uint8

const (
	lockPTL       lockName = iota // a page table's split PTE lock (the zero value)
	lockPageTable                 // mm->page_table_lock
	lockLRU                       // the lruvec's lru_lock
	lockTest                      // a test's
)

var lockNames = [...]string{lockPTL: "ptl", lockPageTable: "page_table_lock", lockLRU: "lru_lock", lockTest: "test"}

func (n lockName) String() string { return lockNames[n] }

// spinLock acquires l on v, spinning in emulated time while another CPU
// holds it.
func (v *VCPU) spinLock(l *spinlock) {
	c := &v.m.cfg.Costs
	if l.owner.is(v) {
		panic("kernelmodel: recursive spin_lock of " + l.name.String())
	}
	if l.owner == 0 && v.c.Clock >= l.freeAt {
		l.owner.wrote(v)
		v.spend(c.LockedRMW)
		return
	}
	start := v.c.Clock
	ptl := l.name == lockPTL
	if ptl {
		v.tracePTLWaiters(+1)
	}
	v.spinWait(spinState{kind: spinLockWait, lock: l})
	l.owner.wrote(v)
	v.c.Clock += v.around(v.lineHandoff(v.m.cpu(l.last)), lockJitter)
	waited := v.c.Clock - start
	if ptl {
		v.tracePTLWaiters(-1)
		v.m.ptlWaitCycles += waited
		v.m.ptlWaits[log2Bucket(waited)]++
		v.trace("lock", "ptl_wait", start)
	} else {
		v.trace("lock", l.name.String()+"_wait", start) // the LRU lock counts its wait in lruLockIRQSave
	}
	v.preempt()
}

func (v *VCPU) spinUnlock(l *spinlock) {
	if !l.owner.is(v) {
		panic("kernelmodel: spin_unlock of " + l.name.String() + " by a CPU that does not hold it")
	}
	l.owner = 0
	l.last.wrote(v)
	l.freeAt = v.c.Clock
}

// rwsem is an emulated rw_semaphore (mmap_lock). Waiters queue FIFO: a
// reader does not pass a queued writer, as in v5.10's rwsem (no reader
// optimistic stealing past waiters). By default waiting is modelled as
// spinning on the CPU (ASSUMPTION: rwsem_optimistic_spin rather than
// sleeping; the CPU has nothing else to run in these workloads); with
// Config.MmapLockSleep a reader sleeps until granted, as
// rwsem_down_read_slowpath does since 617f3ef95177 (rwsemSleep, idle.go).
type rwsem struct {
	name    string
	readers int
	writer  *VCPU
	queue   []*rwWaiter
	// The clocks of the last write release (or downgrade) and the last
	// read release, and the CPU that made it: a CPU behind them in
	// emulated time (by up to a quantum) finds the lock free but must not
	// hold it before the release (as spinlock.freeAt).
	wFreeAt, rFreeAt uint64
	lastRel          *VCPU
}

type rwWaiter struct {
	v        *VCPU
	write    bool
	granted  bool
	sleeping bool   // in rwsemSleep (Config.MmapLockSleep, idle.go): the grant wakes it
	from     *VCPU  // the CPU whose release granted it
	at       uint64 // from's clock at the grant: the waiter runs on no earlier
}

func (s *rwsem) canGrant(write bool) bool {
	if write {
		return s.writer == nil && s.readers == 0
	}
	return s.writer == nil
}

func (v *VCPU) rwsemAcquire(s *rwsem, write bool) {
	c := &v.m.cfg.Costs
	need := s.wFreeAt
	if write {
		need = max(need, s.rFreeAt)
	}
	if len(s.queue) == 0 && s.canGrant(write) && v.c.Clock >= need {
		s.take(v, write)
		v.spend(c.LockedRMW)
		return
	}
	// A CPU waits for one rwsem at a time (interrupt handlers take none),
	// so its waiter is part of it: a contended acquire allocates nothing.
	w := &v.rwWait
	if w.v != nil {
		panic("kernelmodel: nested wait for " + s.name)
	}
	*w = rwWaiter{v: v, write: write}
	s.queue = append(s.queue, w)
	start := v.c.Clock
	if len(s.queue) == 1 && s.canGrant(write) {
		s.grant(s.lastRel, need) // released ahead of v's clock: v spins until then
	}
	if v.m.cfg.MmapLockSleep && !write && !w.granted {
		v.rwsemSleep(w) // idle.go
	} else if v.m.cfg.MmapLockSleep && write && s.name != "" && s.writer == nil && s.readers > 0 && !w.granted {
		// rwsem_optimistic_spin (kernel/locking/rwsem.c, v6.18): a writer
		// spins on a reader-owned rwsem only until rwsem_rspin_threshold,
		// (20 + readers) / 2 µs with readers capped at 30 (at the 3 GHz
		// reference clock), then sets RWSEM_NONSPINNABLE and sleeps in
		// rwsem_down_write_slowpath until the last reader's release
		// grants it. (A writer-owned rwsem is spun on while its owner
		// runs, as the model's writers always do.)
		limit := (20 + uint64(min(s.readers, 30))) * 1500
		v.spinWait(spinState{kind: spinRwsemWait, rw: w, until: v.c.Clock + limit})
		if !w.granted {
			v.rwsemSleep(w)
		}
	} else {
		v.spinWait(spinState{kind: spinRwsemWait, rw: w})
	}
	w.v = nil // granted: out of the queue
	v.c.Clock += v.lineHandoff(w.from)
	name := s.name
	if name == "" { // a VMA's lock (vma_lock.go)
		name = "vma_lock"
		v.m.vmaLockWaitCycles += v.c.Clock - start
	} else {
		v.m.mmapLockWaitCycles += v.c.Clock - start
	}
	v.trace("lock", name+"_wait", start)
	v.preempt()
}

func (s *rwsem) take(v *VCPU, write bool) {
	if write {
		s.writer = v
	} else {
		s.readers++
	}
}

// grant hands the lock, released by from, to queued waiters in FIFO
// order: one writer, or a run of readers; it wakes a sleeping one
// (rwsem_mark_wake → wake_up_q).
func (s *rwsem) grant(from *VCPU, at uint64) {
	for len(s.queue) > 0 {
		w := s.queue[0]
		if !s.canGrant(w.write) {
			return
		}
		s.take(w.v, w.write)
		w.granted = true
		w.from = from
		w.at = at
		if w.sleeping {
			w.v.kick(at + from.m.cfg.Costs.Wakeup)
		}
		s.queue = s.queue[1:]
		if w.write {
			return
		}
	}
}

func (v *VCPU) mmapReadLock(mm *MM) {
	v.rwsemAcquire(&mm.mmapLock, false)
	v.traceMmapLock(mm)
}

func (v *VCPU) mmapWriteLock(mm *MM) {
	v.rwsemAcquire(&mm.mmapLock, true)
	v.traceMmapLock(mm)
}

func (v *VCPU) mmapReadUnlock(mm *MM) {
	mm.mmapLock.readers--
	mm.mmapLock.rFreeAt = max(mm.mmapLock.rFreeAt, v.c.Clock)
	mm.mmapLock.lastRel = v
	mm.mmapLock.grant(v, v.c.Clock)
	v.traceMmapLock(mm)
}

func (v *VCPU) mmapWriteUnlock(mm *MM) {
	v.vmaEndWriteAll(mm)
	mm.mmapLock.releaseWrite(v)
	v.traceMmapLock(mm)
}

// releaseWrite is up_write by v: the release clock and CPU, and the grant
// to the waiters queued behind it.
func (s *rwsem) releaseWrite(v *VCPU) {
	s.writer = nil
	s.wFreeAt = v.c.Clock
	s.lastRel = v
	s.grant(v, v.c.Clock)
}

// mmapWriteDowngrade turns a held write lock into a read lock
// (mmap_write_downgrade), letting queued readers in.
func (v *VCPU) mmapWriteDowngrade(mm *MM) {
	v.vmaEndWriteAll(mm)
	mm.mmapLock.writer = nil
	mm.mmapLock.readers++
	mm.mmapLock.wFreeAt = v.c.Clock
	mm.mmapLock.lastRel = v
	mm.mmapLock.grant(v, v.c.Clock)
	v.traceMmapLock(mm)
}
