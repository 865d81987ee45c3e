package kernelmodel

// The x86 IPI flush path after v5.10, in the shape arch/x86/mm/tlb.c has
// at v6.18 (read at CachyOS/linux 0ebd1b8055ed), as three patches the
// v5.10 path of tlbflush.go calls into:
//
//   - PatchConcurrentFlush, 4ce94eabac16 "x86/mm/tlb: Flush remote and
//     local TLBs concurrently" and 4c1ba3923e6c "x86/mm/tlb: Unify
//     flush_tlb_func_local() and flush_tlb_func_remote()" (v5.13):
//     flush_tlb_mm_range calls flush_tlb_multi, whose
//     smp_call_function_many_cond queues and sends the IPIs, runs
//     flush_tlb_func on the initiator while they are in flight, then
//     waits (nativeFlushTLBOthers); flush_tlb_func counts irq_tlb_count
//     and NR_TLB_REMOTE_FLUSH_RECEIVED when it is not the initiating CPU,
//     before it looks at loaded_mm (flushTLBFunc).
//   - PatchLazyCPUMask, 209954cbc7d0 "x86/mm/tlb: Update mm_cpumask
//     lazily" (v6.13): switch_mm_irqs_off sets the CPU in next's
//     mm_cpumask only if it is not set and no longer clears it in prev's;
//     a flush IPI that finds another mm loaded clears the CPU's bit
//     ("The CPU was left in the mm_cpumask of the target mm. Clear it.").
//   - PatchCPUMaskTrim, 6db2526c1d69 "x86/mm/tlb: Only trim the mm_cpumask
//     once a second" (v6.13): on_each_cpu_cond_mask's condition becomes
//     should_flush_tlb, which skips a CPU that runs another mm unless
//     info->trim_cpumask, and flush_tlb_mm_range sets that from
//     should_trim_cpumask at most once per HZ jiffies per mm.

// kernel618 is which of the patches are in effect, resolved once (Has
// walks two lists; the flush path is hot), and what they count.
type kernel618 struct {
	concurrent  bool // PatchConcurrentFlush or -flush-order concurrent
	lazyCPUMask bool // PatchLazyCPUMask
	trimCPUMask bool // PatchCPUMaskTrim

	wrongCPU    uint64 // trace_tlb_flush(TLB_REMOTE_WRONG_CPU, 0) (2815a56e4b72): bits flush_tlb_func cleared
	trimFlushes uint64 // flush_tlb_mm_range calls with info->trim_cpumask set
}

func (m *Machine) init618() {
	k := &m.k6
	k.concurrent = m.cfg.ConcurrentFlush || m.cfg.Has(PatchConcurrentFlush)
	k.lazyCPUMask = m.cfg.Has(PatchLazyCPUMask)
	k.trimCPUMask = m.cfg.Has(PatchCPUMaskTrim)
}

// initNextTrimCPUMask models init_new_context's
// mm->context.next_trim_cpumask = jiffies + HZ (6db2526c1d69) for an mm
// created at jiffies j.
func initNextTrimCPUMask(mm *MM, j uint64) { mm.nextTrimCPUMask = j + jiffiesHZ }

// lazyCPUMaskSwitch is switch_mm_irqs_off's mm_cpumask update between two
// different mms with 209954cbc7d0: this CPU stays in prev's mask ("The
// CPU will be removed lazily at TLB flush time") and joins next's only if
// it is not there yet, so that a CPU going back and forth between two
// processes writes neither shared cache line.
func (v *VCPU) lazyCPUMaskSwitch(next *MM) {
	if next != v.m.initMM && !next.cpumask[v.id] {
		next.cpumask[v.id] = true
		v.c.Clock += v.m.cfg.Costs.CPUMaskUpdate
	}
}

// shouldTrimCPUMask models should_trim_cpumask (6db2526c1d69): true once
// jiffies is past mm->context.next_trim_cpumask, which then moves a second
// (HZ jiffies) on.
func (v *VCPU) shouldTrimCPUMask(mm *MM) bool {
	j := v.jiffies()
	if j > mm.nextTrimCPUMask { // time_after(jiffies, next_trim_cpumask)
		mm.nextTrimCPUMask = j + jiffiesHZ
		v.m.k6.trimFlushes++
		return true
	}
	return false
}

// wantsFlushIPI is whether flush_tlb_multi runs flush_tlb_func on CPU t of
// info.mm's mm_cpumask: always when on_each_cpu_mask is used (freed page
// tables, an ASID transition: flushAllTargets), else the condition of
// on_each_cpu_cond_mask: tlb_is_not_lazy (v5.10), or with 6db2526c1d69
// should_flush_tlb: not lazy, and running info.mm or trimming. (A CPU in
// the middle of switch_mm_irqs_off, LOADED_MM_SWITCHING, cannot be seen
// here: the model's mm switch is one step.)
func (m *Machine) wantsFlushIPI(info *flushTLBInfo, t *VCPU) bool {
	if m.flushAllTargets(info) {
		return true
	}
	s := &t.tlbs
	if s.isLazy {
		return false // lazy TLB will get flushed at the next context switch
	}
	if !m.k6.trimCPUMask {
		return true
	}
	return s.loadedMM == info.mm || info.trimCPUMask
}

// flushTLBFunc is the part of v6.18's flush_tlb_func before the
// generation logic (flushTLBFuncCommon), for a call on v through an IPI
// (local false) or on the initiator (local true): count a remote call,
// leave an mm that is not loaded (clearing v's stale mm_cpumask bit with
// 209954cbc7d0), else flush.
func (v *VCPU) flushTLBFunc(f *flushTLBInfo, local bool) {
	m := v.m
	if !local {
		v.tlbIRQs++ // inc_irq_stat(irq_tlb_count)
		m.nrTLBRemoteFlushReceived++
	}
	if f.mm != v.tlbs.loadedMM {
		v.clearStaleCPUMask(f.mm)
		return
	}
	reason := TLBRemoteShootdown
	if local {
		reason = TLBLocalMMShootdown
	}
	v.flushTLBFuncCommon(f, local, reason)
}

// clearStaleCPUMask is flush_tlb_func's answer to a flush of an mm v does
// not run: with 209954cbc7d0 "The CPU was left in the mm_cpumask of the
// target mm. Clear it."; without, nothing (v switched away, and
// ctxs[].tlb_gen forces a flush if it comes back).
func (v *VCPU) clearStaleCPUMask(mm *MM) {
	m := v.m
	if m.k6.lazyCPUMask && mm.cpumask[v.id] {
		mm.cpumask[v.id] = false
		v.c.Clock += m.cfg.Costs.CPUMaskUpdate
		m.k6.wrongCPU++
	}
}

// flushTLBMultiLocal is smp_call_function_many_cond's local call on the
// initiator v, between sending the IPIs and waiting for them
// (4ce94eabac16): flush_tlb_func if v is in the mask and the condition
// holds for it, with interrupts off.
func (v *VCPU) flushTLBMultiLocal(info *flushTLBInfo) {
	if !info.mm.cpumask[v.id] || !v.m.wantsFlushIPI(info, v) {
		return
	}
	v.irqOff++
	v.flushTLBFunc(info, true)
	v.irqOff--
}
