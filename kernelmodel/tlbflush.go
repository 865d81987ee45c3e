package kernelmodel

import (
	"github.com/tlbemu/emu/ipi"
	"github.com/tlbemu/emu/tlb"
)

// tlbNrDynASIDs is TLB_NR_DYN_ASIDS (arch/x86/include/asm/tlbflush.h).
const tlbNrDynASIDs = 6

// tlbFlushAllEnd is TLB_FLUSH_ALL as an end address.
const tlbFlushAllEnd = ^uint64(0)

// tlbState is the per-CPU cpu_tlbstate of arch/x86/mm/tlb.c (v5.10).
type tlbState struct {
	loadedMM   *MM // &init_mm is Machine.initMM
	loadedASID int
	nextASID   int
	isLazy     bool
	ctxs       [tlbNrDynASIDs]struct{ ctxID, tlbGen uint64 }
}

// initializeTLBState models initialize_tlbstate_and_flush at CPU bring-up:
// ASID 0 holds init_mm at its current generation, next_asid = 1, other
// slots empty (ctx_id 0).
func (v *VCPU) initializeTLBState() {
	init := v.m.initMM
	v.tlbs = tlbState{nextASID: 1, loadedMM: init}
	v.tlbs.ctxs[0].ctxID = init.ctxID
	v.tlbs.ctxs[0].tlbGen = init.tlbGen
	v.c.MMU.WriteCR3(v.buildCR3(init, 0, false))
}

func kernPCID(asid int) uint64 { return uint64(asid) + 1 }

// buildCR3 models build_cr3 / build_cr3_noflush.
func (v *VCPU) buildCR3(mm *MM, asid int, noflush bool) uint64 {
	cr3 := uint64(mm.pgd.Addr())
	if v.m.cfg.PCID {
		cr3 |= kernPCID(asid)
		if noflush {
			cr3 |= tlb.CR3NoFlush
		}
	}
	return cr3
}

// chooseNewASID models choose_new_asid (v5.10; with -flush invlpgb|rar the
// global-ASID case of v6.18 and RFC v3 7/7 first, globalASIDChoice).
func (v *VCPU) chooseNewASID(next *MM, nextGen uint64, newCPU bool) (int, bool) {
	if !v.m.cfg.PCID {
		return 0, true
	}
	if a, flush, ok := v.globalASIDChoice(next, newCPU); ok {
		return a, flush
	}
	for a := 0; a < tlbNrDynASIDs; a++ {
		if v.tlbs.ctxs[a].ctxID != next.ctxID {
			continue
		}
		return a, v.tlbs.ctxs[a].tlbGen < nextGen
	}
	a := v.tlbs.nextASID
	v.tlbs.nextASID++
	if a >= tlbNrDynASIDs {
		a = 0
		v.tlbs.nextASID = 1
	}
	return a, true
}

// loadNewMMCR3 models load_new_mm_cr3: a flushing switch also marks the
// user PCID for flushing (invalidate_user_asid).
func (v *VCPU) loadNewMMCR3(next *MM, asid int, flush bool) {
	if flush {
		v.invalidateUserASID(asid)
	}
	v.c.Clock += uint64(v.c.MMU.WriteCR3(v.buildCR3(next, asid, !flush)))
}

// switchMMIrqsOff models switch_mm_irqs_off(prev, next, tsk) (v5.10).
func (v *VCPU) switchMMIrqsOff(next *MM) {
	s := &v.tlbs
	realPrev := s.loadedMM
	prevASID := s.loadedASID
	wasLazy := s.isLazy
	s.isLazy = false
	var newASID int
	var needFlush bool
	init := v.m.initMM
	switch {
	case realPrev == next && v.m.mmNeedsGlobalASID(next, prevASID):
		// v6.18: the mm is transitioning to a global ASID: reload.
		newASID, needFlush = v.chooseNewASID(next, next.tlbGen, true)
	case realPrev == next:
		if isGlobalASID(prevASID) {
			return // v6.18: broadcast invalidation keeps this ASID up to date
		}
		if !wasLazy {
			return // thread switch within a process: nothing to do
		}
		nextGen := next.tlbGen
		if s.ctxs[prevASID].tlbGen == nextGen {
			return // TLB still current
		}
		newASID, needFlush = prevASID, true // we missed flushes while lazy
	default:
		newCPU := next != init && !next.cpumask[v.id] && v.m.cfg.Flush == FlushRAR // RFC v3 7/7
		if v.m.k6.lazyCPUMask {
			v.lazyCPUMaskSwitch(next) // 209954cbc7d0 (tlbflush618.go)
		} else {
			if realPrev != init {
				realPrev.cpumask[v.id] = false
				v.c.Clock += v.m.cfg.Costs.CPUMaskUpdate
			}
			if next != init {
				next.cpumask[v.id] = true
				v.c.Clock += v.m.cfg.Costs.CPUMaskUpdate
			}
		}
		newASID, needFlush = v.chooseNewASID(next, next.tlbGen, newCPU)
	}
	if needFlush && isDynASID(newASID) {
		s.ctxs[newASID].ctxID = next.ctxID
		s.ctxs[newASID].tlbGen = next.tlbGen
	}
	v.loadNewMMCR3(next, newASID, needFlush)
	if needFlush {
		v.m.traceTLBFlush(TLBFlushOnTaskSwitch, FlushAll)
	} else {
		v.m.traceTLBFlush(TLBFlushOnTaskSwitch, 0)
	}
	s.loadedMM = next
	s.loadedASID = newASID
}

// enterLazyTLB models enter_lazy_tlb: switching to a kernel thread keeps the
// user mm loaded (CR3 unchanged) and marks the CPU lazy.
func (v *VCPU) enterLazyTLB() {
	if v.tlbs.loadedMM != v.m.initMM {
		v.tlbs.isLazy = true
	}
}

// flushTLBInfo is struct flush_tlb_info.
type flushTLBInfo struct {
	mm          *MM
	start, end  uint64
	strideShift uint
	freedTables bool
	newTLBGen   uint64
	// initiator bookkeeping for the synchronous wait (the csd locks)
	pending int
	lastAck uint64
	lastBy  *VCPU  // the target whose acknowledgement was lastAck
	acks    uint64 // the sum of the targets' acknowledgement hand-offs
	from    *VCPU
	flowID  uint64 // trace: the IPI to CPU i is flow flowID+i
	// trimCPUMask is info->trim_cpumask: should_trim_cpumask's answer
	// (PatchCPUMaskTrim, 6db2526c1d69), or set by RAR's
	// finish_asid_transition (RFC v3 7/7).
	trimCPUMask bool
}

// flushTLBMMRange models flush_tlb_mm_range (arch/x86/mm/tlb.c, v5.10): the
// local flush completes before the IPIs are sent, and the initiator waits for
// every target (wait=1). With PatchConcurrentFlush (4ce94eabac16, ≈v5.13)
// the IPIs go first, and with PatchCPUMaskTrim (6db2526c1d69) a flush that
// sends IPIs asks should_trim_cpumask first (tlbflush618.go).
func (v *VCPU) flushTLBMMRange(mm *MM, start, end uint64, strideShift uint, freedTables bool) {
	m := v.m
	begin := v.c.Clock
	v.inFlush++
	v.c.Clock += m.cfg.Costs.FlushTLBMMRange
	if end != tlbFlushAllEnd && (end-start)>>strideShift > uint64(m.cfg.FlushCeil) {
		start, end = 0, tlbFlushAllEnd
	}
	mm.tlbGen++ // atomic64_inc_return(&mm->context.tlb_gen)
	info := &flushTLBInfo{mm: mm, start: start, end: end, strideShift: strideShift, freedTables: freedTables, newTLBGen: mm.tlbGen, from: v}
	others := false
	for i, in := range mm.cpumask {
		if in && i != v.id {
			others = true
			break
		}
	}
	sent := 0
	switch {
	case m.mmGlobalASID(mm) != 0 && !info.trimCPUMask:
		// v6.15+: a process with a global ASID is flushed by broadcast
		// (INVLPGB) or RAR, without IPIs (broadcast.go).
		sent = v.broadcastTLBFlush(info)
	case m.k6.concurrent && others:
		// 4ce94eabac16: flush_tlb_multi sends the IPIs, runs the local flush
		// while they are in flight, then waits.
		if m.k6.trimCPUMask {
			info.trimCPUMask = v.shouldTrimCPUMask(mm) // 6db2526c1d69
		}
		sent = v.nativeFlushTLBOthers(info)
		v.considerGlobalASID(mm)
	default:
		if mm == v.tlbs.loadedMM {
			v.irqOff++
			v.flushTLBFuncCommon(info, true, TLBLocalMMShootdown)
			v.irqOff--
		}
		if others {
			if m.k6.trimCPUMask {
				info.trimCPUMask = v.shouldTrimCPUMask(mm) // 6db2526c1d69
			}
			sent = v.nativeFlushTLBOthers(info)
			v.considerGlobalASID(mm)
		}
	}
	m.ipisPerFlush[uint64(sent)]++
	m.flushCycles[log2Bucket(v.c.Clock-begin)]++
	m.bc.invalCycles += v.c.Clock - begin
	v.inFlush--
	pages := int64(FlushAll)
	if end != tlbFlushAllEnd {
		pages = int64((end - start) >> strideShift)
	}
	v.trace("flush", "flush_tlb_mm_range", begin, "pages", pages, "ipis", int64(sent))
	v.preempt()
}

// flushTLBPage models flush_tlb_page(vma, addr).
func (v *VCPU) flushTLBPage(mm *MM, addr uint64) {
	v.flushTLBMMRange(mm, addr, addr+4096, 12, false)
}

// flushTLBRange models flush_tlb_range(vma, start, end).
func (v *VCPU) flushTLBRange(mm *MM, start, end uint64) {
	v.flushTLBMMRange(mm, start, end, 12, false)
}

// flushTLBMM models flush_tlb_mm(mm): a full flush with freed_tables=true,
// so lazy CPUs get the IPI too.
func (v *VCPU) flushTLBMM(mm *MM) {
	v.flushTLBMMRange(mm, 0, tlbFlushAllEnd, 0, true)
}

// nativeFlushTLBOthers models native_flush_tlb_others: count the request
// once, send IPIs to the other CPUs of mm_cpumask (skipping lazy ones unless
// page tables were freed; with PatchCPUMaskTrim those should_flush_tlb
// skips: wantsFlushIPI), wait for all of them, then run the function
// locally as on_each_cpu_cond_mask does (with PatchConcurrentFlush,
// native_flush_tlb_multi: locally before the wait). It returns the IPIs
// sent.
func (v *VCPU) nativeFlushTLBOthers(info *flushTLBInfo) int {
	m := v.m
	m.nrTLBRemoteFlush++
	if info.end == tlbFlushAllEnd {
		m.traceTLBFlush(TLBRemoteSendIPI, FlushAll)
	} else {
		m.traceTLBFlush(TLBRemoteSendIPI, int64((info.end-info.start)>>12))
	}
	ic := &m.cfg.IPICosts
	// smp_call_function_many_cond (kernel/smp.c, v5.10): lock and queue a
	// csd on every target, then one arch_send_call_function_ipi_mask,
	// which writes the ICR once per x2APIC cluster (or once per target in
	// physical mode).
	sent := 0
	info.flowID = m.flowIDs()
	for i, in := range info.mm.cpumask {
		if in && i != v.id && m.wantsFlushIPI(info, m.cpus[i]) { // tlb_is_not_lazy, should_flush_tlb
			v.c.Clock += v.ipiHandoff(ic.QueueCycles, m.cpus[i])
			info.acks += v.ipiHandoff(ic.AckCycles, m.cpus[i])
			sent++
		}
	}
	k := uint64(0)
	for i, in := range info.mm.cpumask {
		if !in || i == v.id {
			continue
		}
		t := m.cpus[i]
		if !m.wantsFlushIPI(info, t) {
			continue // tlb_is_not_lazy (should_flush_tlb) is false: no IPI
		}
		if k%max(ic.ClusterSize, 1) == 0 {
			v.c.Clock += ic.ICRWrite
		}
		k++
		info.pending++
		v.traceFlow(TraceFlowOut, info.flowID+uint64(i))
		at := v.c.Clock + v.around(ic.DeliveryCycles, ipiJitter)
		t.mbox.Post(ipi.Message{From: v.id, SentAt: v.c.Clock, DeliverAt: at, Payload: info})
		t.kick(at)
	}
	m.ipisSent += uint64(sent)
	if m.k6.concurrent && info.from == v {
		v.flushTLBMultiLocal(info) // 4ce94eabac16 (tlbflush618.go)
	}
	// csd_lock_wait: spin with interrupts enabled until every target ran the
	// function. The waiting CPU hands the baton on as soon as it is ahead
	// of another vCPU (not only a quantum ahead, as preempt does), so that
	// its wait ends when the last target acknowledges, not up to a quantum
	// later (spinWait).
	v.spinWait(spinState{kind: spinCSDWait, csd: info})
	// The initiator checks the targets' csds one after the other: the
	// last acknowledgement's line, then one more hand-off per further
	// target (their acks arrived together or earlier).
	// Across CCXs each hand-off costs more (ipiHandoff).
	if sent > 0 {
		last := v.ipiHandoff(ic.AckCycles, info.lastBy)
		v.c.Clock = max(v.c.Clock, info.lastAck+last) + info.acks - min(last, info.acks)
	}
	// v5.10: on_each_cpu_cond_mask runs flush_tlb_func_remote on the
	// initiator too (mm_cpumask includes it), which counts irq_tlb_count and
	// NR_TLB_REMOTE_FLUSH_RECEIVED for the initiator's own call. With
	// 4ce94eabac16 (≈v5.13) the local flush ran above, before the wait, and
	// flush_tlb_func counts those two only when it is not the initiating CPU.
	if !m.k6.concurrent && !m.flushAllTargets(info) && info.mm.cpumask[v.id] && !v.tlbs.isLazy {
		v.irqOff++
		v.flushTLBFuncRemote(info)
		v.irqOff--
	}
	return sent
}

// handleIRQs takes every interrupt due on v: the call-function IPI runs
// flush_tlb_func_remote between interrupt entry and exit, then acknowledges.
func (v *VCPU) handleIRQs() {
	ic := &v.m.cfg.IPICosts
	for {
		msg, ok := v.mbox.PopDue(v.c.Clock)
		if !ok {
			return
		}
		info := msg.Payload.(*flushTLBInfo)
		v.enterKernel()
		start := v.c.Clock
		v.inIRQ = true
		v.callIRQs++ // sysvec_call_function: inc_irq_stat(irq_call_count)
		v.c.Clock += ic.IRQEntryCycles
		v.traceFlow(TraceFlowIn, info.flowID+uint64(v.id))
		v.flushTLBFuncRemote(info)
		info.pending--
		if v.c.Clock > info.lastAck {
			info.lastAck, info.lastBy = v.c.Clock, v
		}
		v.c.Clock += ic.IRQExitCycles
		v.inIRQ = false
		if v.inFlush == 0 { // else inside this CPU's own flush_tlb_mm_range, counted there
			v.m.bc.invalCycles += v.c.Clock - start
		}
		v.trace("irq", "call_function_interrupt", start, "from_cpu", int64(msg.From))
	}
}

// flushTLBFuncRemote models flush_tlb_func_remote (v5.10).
func (v *VCPU) flushTLBFuncRemote(f *flushTLBInfo) {
	if v.m.k6.concurrent {
		v.flushTLBFunc(f, false) // 4c1ba3923e6c: one flush_tlb_func (tlbflush618.go)
		return
	}
	v.tlbIRQs++ // inc_irq_stat(irq_tlb_count)
	if f.mm != v.tlbs.loadedMM {
		v.clearStaleCPUMask(f.mm) // 209954cbc7d0 (tlbflush618.go)
		return                    // switched away: ctxs[].tlb_gen forces a flush on return
	}
	v.m.nrTLBRemoteFlushReceived++
	v.flushTLBFuncCommon(f, false, TLBRemoteShootdown)
}

// flushTLBFuncCommon models flush_tlb_func_common(f, local, reason) (v5.10),
// the generation decision (arch/x86/mm/tlb.c, v5.10).
func (v *VCPU) flushTLBFuncCommon(f *flushTLBInfo, local bool, reason FlushReason) {
	m := v.m
	s := &v.tlbs
	loaded := s.loadedMM
	if loaded == m.initMM {
		return
	}
	v.c.Clock += m.cfg.Costs.FlushFunc
	if m.bc.on && !v.globalASIDFlushFunc(loaded) {
		return
	}
	asid := s.loadedASID
	mmGen := loaded.tlbGen
	localGen := uint64(0) // RFC v3 7/7: a global ASID has no ctxs[] slot
	if isDynASID(asid) {
		localGen = s.ctxs[asid].tlbGen
	}
	if s.isLazy {
		// Should be rare: lazy CPUs are skipped unless tables were freed.
		if m.cfg.Flush == FlushRAR {
			loaded.cpumask[v.id] = false // RFC v3 7/7
		}
		v.switchMMIrqsOff(m.initMM)
		return
	}
	if localGen == mmGen {
		m.traceTLBFlush(reason, 0)
		return
	}
	if f.end != tlbFlushAllEnd && f.newTLBGen == localGen+1 && f.newTLBGen == mmGen {
		n := int64(0)
		for addr := f.start; addr < f.end; addr += 1 << f.strideShift {
			v.flushTLBOneUser(addr)
			n++
		}
		if local {
			m.nrTLBLocalFlushOne += uint64(n)
		}
		m.traceTLBFlush(reason, n)
	} else {
		v.flushTLBLocal()
		if local {
			m.nrTLBLocalFlushAll++
		}
		m.traceTLBFlush(reason, FlushAll)
	}
	if isDynASID(asid) {
		s.ctxs[asid].tlbGen = mmGen
	}
}
