package kernelmodel

// Global ASIDs (arch/x86/mm/tlb.c, v6.15+, Rik van Riel's "AMD broadcast
// TLB invalidation" series; read at v6.18, CachyOS/linux 0ebd1b8055ed): a
// multi-threaded process that flushes often and is active on more than
// three CPUs at once gets one ASID from a shared pool, the same on every
// CPU, so that its flushes can be broadcast (INVLPGB) or targeted by the
// hardware (Intel RAR) instead of sent as IPIs. The pool lies above the
// TLB_NR_DYN_ASIDS per-CPU dynamic ASIDs; a freed global ASID is reused
// only after the whole pool wrapped and one full flush made every freed
// one safe again.
//
//	ASID   0 … 5                       dynamic, per CPU (choose_new_asid)
//	       6 … MAX_ASID_AVAILABLE-1    global (allocate_global_asid)
//	kPCID  ASID+1; uPCID kPCID|1<<11 with PTI

// maxASIDAvailable models MAX_ASID_AVAILABLE: (1 << CR3_AVAIL_PCID_BITS) -
// 2, CR3_AVAIL_PCID_BITS = 12 - (PTI ? 1 : 0).
func (m *Machine) maxASIDAvailable() int {
	bits := 12
	if m.cfg.PTI {
		bits--
	}
	return 1<<bits - 2
}

func isDynASID(asid int) bool    { return asid < tlbNrDynASIDs }
func isGlobalASID(asid int) bool { return !isDynASID(asid) }

// globalASIDs is the shared pool: global_asid_used, global_asid_freed,
// last_global_asid and global_asid_available, under global_asid_lock.
type globalASIDs struct {
	used, freed []bool
	last        int
	available   int
	resets      uint64 // reset_global_asid_space calls
	assigned    uint64 // use_global_asid assignments
}

func (g *globalASIDs) init(maxASID int) {
	g.used = make([]bool, maxASID)
	g.freed = make([]bool, maxASID)
	g.last = maxASID                          // last_global_asid = MAX_ASID_AVAILABLE
	g.available = maxASID - tlbNrDynASIDs - 1 // global_asid_available
}

// mmBroadcast is the part of mm->context the global ASIDs add.
type mmBroadcast struct {
	globalASID     int  // mm->context.global_asid (0: none)
	asidTransition bool // mm->context.asid_transition
}

// mmGlobalASID models mm_global_asid: 0 unless the CPU offers broadcast
// flushing (-flush invlpgb|rar) and mm has a global ASID.
func (m *Machine) mmGlobalASID(mm *MM) int {
	if !m.bc.on {
		return 0
	}
	return mm.bc.globalASID
}

// mmInASIDTransition models mm_in_asid_transition.
func (m *Machine) mmInASIDTransition(mm *MM) bool {
	return m.bc.on && mm != nil && mm.bc.asidTransition
}

// resetGlobalASIDSpace models reset_global_asid_space: one full flush of
// every CPU's non-global translations makes the freed global ASIDs safe to
// reuse (INVLPGB: invlpgb_flush_all_nonglobals; RAR, RFC v3 7/7:
// flush_tlb_all), and the search restarts above the dynamic ASIDs.
func (v *VCPU) resetGlobalASIDSpace() {
	m := v.m
	g := &m.bc.gasid
	g.resets++
	if m.cfg.Flush == FlushRAR {
		v.rarFlushAll()
	} else {
		v.invlpgbFlushAllNonglobals()
	}
	for i := range g.used {
		if g.freed[i] {
			g.used[i] = false
		}
		g.freed[i] = false
	}
	g.last = tlbNrDynASIDs
}

// allocateGlobalASID models allocate_global_asid. It returns 0 when the
// pool is exhausted.
func (v *VCPU) allocateGlobalASID() int {
	g := &v.m.bc.gasid
	maxASID := len(g.used)
	if g.last >= maxASID-1 {
		v.resetGlobalASIDSpace()
	}
	asid := g.last
	for asid < maxASID && g.used[asid] {
		asid++ // find_next_zero_bit(global_asid_used, MAX_ASID_AVAILABLE, last_global_asid)
	}
	if asid >= maxASID && g.available == 0 {
		return 0 // "Unable to allocate global ASID despite %d available"
	}
	if asid >= maxASID {
		return 0
	}
	g.used[asid] = true
	g.last = asid
	g.available--
	return asid
}

// mmActiveCPUsExceeds models mm_active_cpus_exceeds(mm, threshold): more
// than threshold CPUs have mm loaded and are not lazy.
func (m *Machine) mmActiveCPUsExceeds(mm *MM, threshold int) bool {
	n := 0
	for _, in := range mm.cpumask {
		if in {
			n++
		}
	}
	if n <= threshold {
		return false
	}
	count := 0
	for i, in := range mm.cpumask {
		if !in {
			continue
		}
		s := &m.cpus[i].tlbs
		if s.loadedMM != mm || s.isLazy {
			continue
		}
		if count++; count > threshold {
			return true
		}
	}
	return false
}

// useGlobalASID models use_global_asid: under global_asid_lock, give mm a
// global ASID unless it has one or the pool is empty; mm_assign_global_asid
// marks the mm as in transition until every CPU running it uses the new
// ASID (finish_asid_transition).
func (v *VCPU) useGlobalASID(mm *MM) {
	m := v.m
	v.c.Clock += m.cfg.Costs.LockedRMW // raw_spin_lock(&global_asid_lock), uncontended
	if mm.bc.globalASID != 0 {
		return
	}
	g := &m.bc.gasid
	if g.available == 0 {
		return // "Ran out of global ASIDs"
	}
	asid := v.allocateGlobalASID()
	if asid == 0 {
		return
	}
	mm.bc.asidTransition = true
	mm.bc.globalASID = asid
	g.assigned++
}

// mmFreeGlobalASID models mm_free_global_asid (destroy_context): the ASID
// can be reused only after the pool wraps (global_asid_freed).
func (m *Machine) mmFreeGlobalASID(mm *MM) {
	if m.mmGlobalASID(mm) == 0 {
		return
	}
	g := &m.bc.gasid
	g.freed[mm.bc.globalASID] = true
	mm.bc.globalASID = 0
	g.available++
}

// mmNeedsGlobalASID models mm_needs_global_asid: mm has a global ASID and
// this CPU still runs it under another one.
func (m *Machine) mmNeedsGlobalASID(mm *MM, asid int) bool {
	g := m.mmGlobalASID(mm)
	return g != 0 && asid != g
}

// jiffiesHZ is the model's HZ (250, as sysClockGetres's 4 ms tick).
const jiffiesHZ = 250

// JiffyCycles is one tick in cycles (3.0 GHz reference clock).
const JiffyCycles = cyclesPerNS * 1_000_000_000 / jiffiesHZ

// jiffies is the tick count at v's clock.
func (v *VCPU) jiffies() uint64 { return v.c.Clock / JiffyCycles }

// considerGlobalASID models consider_global_asid: once in a while ((pid &
// 0x1f) == (jiffies & 0x1f)), a process active on 4 or more CPUs at once
// gets a global ASID.
func (v *VCPU) considerGlobalASID(mm *MM) {
	m := v.m
	if !m.bc.on || v.curr == nil {
		return
	}
	if uint64(v.curr.tid)&0x1f != v.jiffies()&0x1f {
		return
	}
	if m.mmActiveCPUsExceeds(mm, 3) {
		v.useGlobalASID(mm)
	}
}

// finishASIDTransition models finish_asid_transition: while some CPU runs
// mm under its old dynamic ASID, send the flush as IPIs so that the
// stragglers switch (flush_tlb_func → switch_mm_irqs_off); once none does,
// the transition is over. It returns the IPIs sent.
func (v *VCPU) finishASIDTransition(info *flushTLBInfo) int {
	m := v.m
	mm := info.mm
	if !m.mmInASIDTransition(mm) {
		return 0
	}
	bc := mm.bc.globalASID
	for i, in := range mm.cpumask {
		if !in {
			continue
		}
		s := &m.cpus[i].tlbs
		if s.loadedMM != mm {
			continue
		}
		if s.loadedASID != bc {
			if m.cfg.Flush == FlushRAR {
				info.trimCPUMask = true // RFC v3 7/7
			}
			// flush_tlb_multi: on_each_cpu_mask runs flush_tlb_func here
			// too, which moves this CPU to the global ASID (the model's
			// serial order runs it after the remote ones).
			sent := v.nativeFlushTLBOthers(info)
			if !m.k6.concurrent && mm.cpumask[v.id] && v.tlbs.loadedMM == mm {
				v.irqOff++
				v.flushTLBFuncCommon(info, true, TLBLocalMMShootdown)
				v.irqOff--
			}
			return sent
		}
	}
	mm.bc.asidTransition = false
	return 0
}
