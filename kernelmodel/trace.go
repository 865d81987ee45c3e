package kernelmodel

import "strconv"

// tracing is the machine's bookkeeping for Config.Trace. Only the vCPU
// holding the baton touches it.
type tracing struct {
	flowSeq     uint64            // flow ids handed out (each flush takes one per CPU)
	staleMarked int               // stale-TLB stores marked so far
	ptlWaiters  int64             // CPUs spinning on a PTE lock now
	counterLast map[string]uint64 // each counter track's last sample time
}

// trace emits a span from start to now on v's timeline if tracing is on.
// kv alternates keys (string) and values (int64).
func (v *VCPU) trace(cat, name string, start uint64, kv ...any) {
	f := v.m.cfg.Trace
	if f == nil {
		return
	}
	ev := TraceEvent{CPU: v.id, Cat: cat, Name: name, Start: start, Dur: v.c.Clock - start}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Args = append(ev.Args, TraceArg{kv[i].(string), kv[i+1].(int64)})
	}
	f(ev)
}

// traceUser emits the user-mode span that ends at a kernel entry.
func (v *VCPU) traceUser() {
	if v.m.cfg.Trace == nil || v.curr == nil || v.c.Clock <= v.userStart {
		return
	}
	v.trace("user", v.curr.comm, v.userStart, "tid", int64(v.curr.tid))
}

// flowIDs reserves the flow ids of one flush's IPIs: base+target CPU.
func (m *Machine) flowIDs() uint64 {
	if m.cfg.Trace == nil {
		return 0
	}
	base := m.tracing.flowSeq + 1
	m.tracing.flowSeq += uint64(len(m.cpus))
	return base
}

// traceFlow emits one end of flow id at v's current time.
func (v *VCPU) traceFlow(kind TraceKind, id uint64) {
	if f := v.m.cfg.Trace; f != nil {
		f(TraceEvent{Kind: kind, CPU: v.id, Cat: "ipi", Name: "tlb_shootdown", Start: v.c.Clock, ID: id})
	}
}

// traceStaleStore marks one of the first Config.TraceStaleStores hazard
// stores on v's timeline: kind is the counter it was counted in.
func (v *VCPU) traceStaleStore(kind string, addr, pte uint64) {
	m := v.m
	if m.cfg.Trace == nil || m.tracing.staleMarked >= m.cfg.TraceStaleStores {
		return
	}
	m.tracing.staleMarked++
	v.trace("hazard", kind, v.c.Clock, "addr", int64(addr), "rip", int64(v.c.Regs.RIP), "pte", int64(pte))
}

// traceCounter emits a sample of the counter track name at v's time,
// moved up to the track's last sample if that is later (see TraceEvent).
func (v *VCPU) traceCounter(name string, kv ...any) {
	m := v.m
	f := m.cfg.Trace
	if f == nil {
		return
	}
	if m.tracing.counterLast == nil {
		m.tracing.counterLast = map[string]uint64{}
	}
	at := max(v.c.Clock, m.tracing.counterLast[name])
	m.tracing.counterLast[name] = at
	ev := TraceEvent{Kind: TraceCounter, CPU: v.id, Cat: "counter", Name: name, Start: at}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Args = append(ev.Args, TraceArg{kv[i].(string), kv[i+1].(int64)})
	}
	f(ev)
}

// traceFlushPending samples mm->tlb_flush_pending after a change
// (inc_tlb_flush_pending / dec_tlb_flush_pending).
func (v *VCPU) traceFlushPending(mm *MM) {
	if v.m.cfg.Trace != nil {
		v.traceCounter("tlb_flush_pending mm"+strconv.Itoa(mm.id), "count", int64(mm.tlbFlushPending))
	}
}

// traceMmapLock samples who holds mm's mmap_lock after a change: the
// readers and whether a writer holds it.
func (v *VCPU) traceMmapLock(mm *MM) {
	if v.m.cfg.Trace != nil {
		s := &mm.mmapLock
		w := int64(0)
		if s.writer != nil {
			w = 1
		}
		v.traceCounter("mmap_lock mm"+strconv.Itoa(mm.id), "readers", int64(s.readers), "writer", w)
	}
}

// tracePTLWaiters samples how many CPUs spin on a PTE lock.
func (v *VCPU) tracePTLWaiters(delta int64) {
	if v.m.cfg.Trace != nil {
		v.m.tracing.ptlWaiters += delta
		v.traceCounter("ptl_waiters", "cpus", v.m.tracing.ptlWaiters)
	}
}
